"""Sync runs and their scheduling (the tasks run inline here; test_consumer.py runs a real one)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from pricing import tasks
from pricing.leases import lease_claim
from pricing.models import Lease, RegistrationState, SyncRun
from pricing.services import SYNC_RUN_LEASE, sync_run_due, sync_run_enqueue, sync_run_start
from products.services import product_create, product_suspend

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered_products(user, offers_simulator):
    from pricing.services import product_register

    products = [product_create(owner=user, name=f"P{i}") for i in range(3)]
    for product in products:
        assert product_register(product_id=product.pk).registered
    return products


def test_a_run_syncs_every_active_registered_product(registered_products, huey_immediate):
    suspended = registered_products[0]
    product_suspend(product=suspended, reason="spam")
    pending = product_create(owner=suspended.owner, name="pending")

    tasks.sync_run_task()

    run = SyncRun.objects.get()
    assert run.products_total == 2
    assert run.products_synced == 2
    assert run.finished_at is not None
    assert run.errors == {}
    for product in registered_products[1:]:
        product.refresh_from_db()
        assert product.tracking.last_synced_at is not None
    suspended.refresh_from_db()
    assert suspended.tracking.last_synced_at is None
    # The run also retried the pending registration, and synced it once registered.
    pending.refresh_from_db()
    assert pending.tracking.registration_state == RegistrationState.REGISTERED
    assert pending.tracking.last_synced_at is not None


def test_one_failing_product_does_not_stop_the_others(
    registered_products, offers_simulator, huey_immediate, monkeypatch
):
    from pricing.offers_client import OffersAnswer, OffersUnavailable, get_offers_client

    broken = registered_products[1]
    client = get_offers_client()
    real_fetch = client._fetch_offers

    # The simulator's faults hit every product alike; this one fault is for one product only,
    # so it is forced here (the rest of the batch talks to the simulator as usual).
    def fetch(product_id, token):
        if product_id == broken.pk:
            error = OffersUnavailable("the service timed out for this product")
            return OffersAnswer(None, error, time.monotonic())
        return real_fetch(product_id, token)

    monkeypatch.setattr(client, "_fetch_offers", fetch)

    tasks.sync_run_task()

    run = SyncRun.objects.get()
    assert run.products_total == 3
    assert run.products_failed == 1
    assert run.products_synced == 2
    assert run.errors == {str(broken.pk): "the service timed out for this product"}
    assert run.finished_at is not None


def test_runs_never_overlap(registered_products, huey_immediate):
    holder = lease_claim(name=SYNC_RUN_LEASE, seconds=600)  # a run in progress elsewhere
    assert holder
    tasks.sync_run_task()
    assert not SyncRun.objects.exists()


def test_a_stale_run_lease_expires(registered_products, huey_immediate):
    lease_claim(name=SYNC_RUN_LEASE, seconds=600)
    # The worker holding it was killed: once its lease runs out, runs resume.
    Lease.objects.filter(name=SYNC_RUN_LEASE).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    tasks.sync_run_task()
    assert SyncRun.objects.get().finished_at is not None


def test_a_finished_run_releases_its_lease(registered_products, huey_immediate):
    tasks.sync_run_task()
    tasks.sync_run_task()
    assert SyncRun.objects.filter(finished_at__isnull=False).count() == 2


def test_an_empty_run_finishes_at_once(db):
    run = sync_run_start()
    batches = []
    assert sync_run_enqueue(run=run, enqueue=batches.append) == 0
    assert batches == []
    run.refresh_from_db()
    assert run.finished_at is not None


def test_sub_minute_intervals_schedule_runs_within_the_minute(settings, huey_immediate, db):
    settings.OFFERS_SYNC_INTERVAL = 15
    tasks.schedule_sync_runs.call_local()
    # One run now (immediate mode runs it), three kept in the schedule for 15, 30 and 45 s.
    assert SyncRun.objects.count() == 1
    scheduled = huey_immediate.scheduled()
    assert [task.name for task in scheduled].count("sync_run_task") == 3


def test_long_intervals_start_a_run_only_when_due(settings, make_sync_run):
    settings.OFFERS_SYNC_INTERVAL = 180
    assert sync_run_due(interval=180)
    make_sync_run(started_at=timezone.now() - timedelta(seconds=100))
    assert not sync_run_due(interval=180)
    make_sync_run(started_at=timezone.now() - timedelta(seconds=178))
    assert not sync_run_due(interval=180)
    SyncRun.objects.all().update(started_at=timezone.now() - timedelta(seconds=176))
    assert sync_run_due(interval=180)
