"""Fixtures shared by every test: users, the Offers simulator over real HTTP, child processes
(a second client, a real Huey consumer) on the test database, and the task queue."""

import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent

# Property tests check properties, not speed: the default 200 ms deadline per example failed
# them at random on a busy 2-core machine (tests never assert wall-clock times).
hypothesis_settings.register_profile("project", deadline=None)
hypothesis_settings.load_profile("project")


@pytest.fixture
def password():
    return "correct horse battery staple"


# Users of the fixtures have confirmed their address (email verification is mandatory without
# DEBUG): they sign in through the login page as any user does after the emailed link.
@pytest.fixture
def user(django_user_model, password):
    return django_user_model.objects.create_user(
        email="alice@example.com", password=password, email_verified=True
    )


@pytest.fixture
def other_user(django_user_model, password):
    return django_user_model.objects.create_user(
        email="bob@example.com", password=password, email_verified=True
    )


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff(django_user_model, password):
    """A superuser: staff with every permission of the admin."""
    return django_user_model.objects.create_superuser(email="root@example.com", password=password)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


# --- Products in a given state, for the interfaces' tests -------------------------------------
# The interfaces (dashboard, api) reach pricing only through its selectors and services; their
# tests set up what the sync would have written through these fixtures instead of pricing's
# models.


@pytest.fixture
def store_offers():
    """store_offers(product, [(price, stock) or (offer_id, price, stock), ...], at=...): store
    one successful sync's answer, as the sync does (pricing.services.offers_store)."""
    from django.utils import timezone

    from pricing.offers_client import OfferData
    from pricing.services import offers_store

    def store(product, offers, *, at=None) -> None:
        answer = [
            OfferData(*offer) if len(offer) == 3 else OfferData(uuid.uuid4(), *offer)
            for offer in offers
        ]
        offers_store(product=product, offers=answer, at=at or timezone.now())

    return store


@pytest.fixture
def set_tracking():
    """set_tracking(product, **fields): put the product's registration and sync state (pricing's
    ProductTracking row) where a test needs it, e.g. registration_state="registered"."""
    from pricing.models import ProductTracking

    def update(product, **fields) -> None:
        assert ProductTracking.objects.filter(pk=product.pk).update(**fields) == 1

    return update


@pytest.fixture
def make_product(user, store_offers, set_tracking):
    """make_product(name, prices=[(price, stock), ...], owner=..., synced_ago=...): a product;
    with prices, registered and with one sync stored `synced_ago` (default a minute) ago."""
    from django.utils import timezone

    from products.services import product_create

    def make(name="Product", prices=(), *, owner=None, synced_ago=timedelta(minutes=1), **kw):
        product = product_create(owner=owner or user, name=name, **kw)
        if prices:
            set_tracking(product, registration_state="registered")
            store_offers(product, prices, at=timezone.now() - synced_ago)
            product.refresh_from_db()
        return product

    return make


@pytest.fixture
def make_sync_run():
    """make_sync_run(**fields): a periodic sync run as the sync records it (started now,
    unfinished, its lease running for ten minutes unless given)."""
    from django.utils import timezone

    from pricing.models import SyncRun

    def make(**fields) -> SyncRun:
        started_at = fields.pop("started_at", timezone.now())
        fields.setdefault("lease_expires_at", started_at + timedelta(minutes=10))
        return SyncRun.objects.create(started_at=started_at, **fields)

    return make


@pytest.fixture
def minute_history():
    """minute_history(product, start=..., count=..., every=a minute): `count` snapshots `every`
    apart, written by the database itself (pricing.testing.minute_snapshots)."""
    from pricing.testing import minute_snapshots

    return minute_snapshots


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


def free_port() -> int:
    """A loopback port nobody listens on (for a server a test starts, or a refused connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


# --- Huey ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_task_queue():
    """Tests have their own queue (settings: TESTING); empty it after each test so tasks one
    test enqueued never reach another's consumer."""
    yield
    from huey.contrib.djhuey import HUEY

    if not HUEY.immediate:
        HUEY.flush()


@pytest.fixture
def huey_immediate():
    """Run tasks inline, as they are enqueued (tasks scheduled for later are kept in memory)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield HUEY
    HUEY.immediate = False


@pytest.fixture
def huey_consumer(subprocess_env, tmp_path):
    """Start real `manage.py run_huey` consumers on the test database and queue.

    `start(**env)` returns the process; its output goes to a log file whose text is attached to
    the failure report. Consumers are stopped with SIGINT (graceful) at the end of the test.
    """
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(*args: str, **env: str) -> subprocess.Popen:
        log = tmp_path / f"huey-{len(started)}.log"
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey", "--workers", "2", *args],
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return process

    start.logs = lambda: "\n".join(log.read_text() for _, log in started)
    yield start
    for process, _ in started:
        process.send_signal(signal.SIGINT)
    for process, _ in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until(condition, *, timeout: float, interval: float = 0.2, message=""):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            if callable(message):  # e.g. a consumer's log, read only when it is needed
                message = message()
            pytest.fail(f"Timed out after {timeout} s waiting: {message or condition}")
        time.sleep(interval)


@pytest.fixture
def wait_until():
    """`wait_until(condition, timeout=..., message=...)`: poll until `condition()` is truthy (and
    return it), or fail the test after `timeout` seconds with `message` (a string, or a callable
    giving one at that moment)."""
    return _wait_until


@pytest.fixture
def empty_cache_afterwards():
    """For tests of limits counted in the cache (allauth's, Sync now's): the Redis cache
    outlives the test's transaction."""
    from django.core.cache import cache

    yield
    cache.clear()
