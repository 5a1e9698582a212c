"""Fixtures shared by every test: users, and the Offers simulator over real HTTP."""

import pytest


@pytest.fixture
def password():
    return "correct horse battery staple"


@pytest.fixture
def user(django_user_model, password):
    return django_user_model.objects.create_user(email="alice@example.com", password=password)


@pytest.fixture
def other_user(django_user_model, password):
    return django_user_model.objects.create_user(email="bob@example.com", password=password)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


# --- The Offers simulator, over real HTTP ------------------------------------------------------


@pytest.fixture(scope="session")
def offers_simulator_process():
    """One simulator for the whole test session, on a free loopback port."""
    from offers_simulator.testing import run_simulator

    with run_simulator() as simulator:
        yield simulator


@pytest.fixture
def offers_simulator(offers_simulator_process, settings):
    """The session's simulator, with the app pointed at it; faults and tokens reset afterwards."""
    settings.OFFERS_BASE_URL = offers_simulator_process.base_url
    settings.OFFERS_REFRESH_TOKEN = offers_simulator_process.refresh_token
    yield offers_simulator_process
    offers_simulator_process.reset()


# --- Processes started by tests (a second client, a Huey consumer) ------------------------------


def database_url_of(connection) -> str:
    """A DATABASE_URL for the database `connection` uses (the test database during tests)."""
    conf = connection.settings_dict
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{conf['NAME']}"
    auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf.get("PASSWORD") else "")
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db, settings):
    """Build the environment of a child process that must see this test's database and settings.

    A factory, so it reads the settings (the simulator's URL, say) when the child starts. Needs
    `transactional_db`: a child process cannot see a test's uncommitted data.
    """
    import os

    from django.db import connection

    def make_env(**overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_TESTING": "1",
            "DATABASE_URL": database_url_of(connection),
            "OFFERS_BASE_URL": settings.OFFERS_BASE_URL,
            "OFFERS_REFRESH_TOKEN": settings.OFFERS_REFRESH_TOKEN,
            "OFFERS_TOKEN_TTL": str(settings.OFFERS_TOKEN_TTL),
            "PYTHONUNBUFFERED": "1",
        }
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        return {**env, **overrides}

    return make_env
