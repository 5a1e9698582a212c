"""Request rates: per user, per anonymous client address, and for credentials, counted in the
shared cache (so every web process counts together)."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from api.tests.conftest import errors

pytestmark = pytest.mark.django_db

ME, TOKEN, USERS = reverse("api:me"), reverse("api:token"), reverse("api:users")


@pytest.fixture
def rates(settings):
    """set(**rates): the throttle rates for this test, on a clean count."""
    cache.clear()

    def set_rates(**rates):
        settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
            "DEFAULT_THROTTLE_RATES": {"anon": "1000/min", "user": "1000/min"}
            | {"credentials": "1000/min"}
            | rates
        }

    yield set_rates
    cache.clear()


def test_a_user_over_their_rate_gets_429_with_retry_after(rates, api, other_api):
    rates(user="3/min")
    assert [api.get(ME).status_code for _ in range(4)] == [200, 200, 200, 429]
    response = api.get(ME)
    assert errors(response) == {None: "throttled"}
    assert 0 < int(response["Retry-After"]) <= 60
    assert other_api.get(ME).status_code == 200  # counted per user


def test_anonymous_clients_are_counted_per_address(rates):
    """(Anonymous requests to endpoints that need a user get 401 before any count.)"""
    rates(anon="2/min")
    here, there = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    wrong = {"email": "nobody@example.com", "password": "x"}
    assert [here.post(TOKEN, wrong).status_code for _ in range(3)] == [400, 400, 429]
    assert there.post(TOKEN, wrong).status_code == 400
    # A forged X-Forwarded-For does not open a new count (no proxy is trusted by default).
    assert here.post(TOKEN, wrong, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


def test_guessing_passwords_is_slowed_down(rates, user):
    rates(credentials="3/min")
    client = APIClient()
    statuses = [
        client.post(TOKEN, {"email": user.email, "password": f"guess {n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    # Signing up counts towards the same limit.
    assert client.post(USERS, {"email": "x@example.com", "password": "x"}).status_code == 429
