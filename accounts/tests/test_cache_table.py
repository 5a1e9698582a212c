"""`migrate` alone leaves a working site: the database cache's table is made with the rest."""

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection

TABLE = "test_cache_made_by_migrate"


@pytest.fixture
def database_cache(settings):
    """The cache of a deployment without Redis, in a table of this test's own."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": TABLE}
    }
    yield caches["default"]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(TABLE)}")


@pytest.mark.django_db(transaction=True)
def test_migrate_makes_the_database_cache_table(database_cache):
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(TABLE)}")
    assert TABLE not in connection.introspection.table_names()

    call_command("migrate", verbosity=0)

    assert TABLE in connection.introspection.table_names()
    database_cache.set("rate-limit", 3)
    assert database_cache.get("rate-limit") == 3


@pytest.mark.django_db(transaction=True)
def test_signup_works_after_migrate_alone(client, database_cache, settings):
    # The cache is where allauth counts attempts: without its table, signup answered 500.
    del settings.ACCOUNT_RATE_LIMITS
    call_command("migrate", verbosity=0)

    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )

    assert response.status_code == 302
