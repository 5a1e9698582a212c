"""The sync under faults and races (issue 14): every run finishes whatever a product's sync does;
a product deleted mid-sync is skipped; an answer whose lease was taken over is not stored; the
database's clock decides leases, tokens and due-ness; the token store is bound to its service
and refresh token and honours a lockout; registration retries follow their backoff once."""

import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from pricing import sync
from pricing.leases import lease_claim
from pricing.models import OffersAccessToken, ProductSnapshot, ProductTracking, SyncRun
from pricing.offers_client import OffersClient, OffersLockedOut
from pricing.services import (
    SyncResult,
    offers_sync,
    offers_sync_batch,
    product_register,
    products_due_for_registration,
    sync_run_due,
    sync_run_enqueue,
    sync_run_start,
)
from products.models import Product
from products.services import product_create


@pytest.fixture
def registered_pair(transactional_db, user, offers_simulator):
    products = [product_create(owner=user, name=f"P{i}") for i in range(2)]
    for product in products:
        assert product_register(product_id=product.pk).registered
    return products


def fetch_then(monkeypatch, action):
    """Make a batch's fetch run `action(product_id)` for each product once the answers have
    arrived: what another process or person does while a worker waits for the service."""
    real = OffersClient.get_offers_many

    def get_offers_many(self, product_ids, **kwargs):
        answers = real(self, product_ids, **kwargs)
        for product_id in answers:
            action(product_id)
        return answers

    monkeypatch.setattr(OffersClient, "get_offers_many", get_offers_many)


def run_over(products):
    """Run a sync run over `products` (one batch); the run, and each product's result in their
    order."""
    run = sync_run_start()
    outcomes = {}

    def sync(batch):
        outcomes.update(offers_sync_batch(product_ids=batch, run_id=run.pk))

    sync_run_enqueue(run=run, enqueue=sync, product_ids=[p.pk for p in products])
    return SyncRun.objects.get(pk=run.pk), [outcomes[p.pk] for p in products]


@pytest.mark.parametrize("delete", ["product", "owner"])
def test_deleting_a_product_or_its_owner_during_the_fetch_skips_it_and_the_run_finishes(
    registered_pair, monkeypatch, delete, django_user_model
):
    doomed = registered_pair[1]
    if delete == "owner":
        doomed.owner = django_user_model.objects.create_user(email="doomed@example.com")
        doomed.save()

    def remove(product_id):
        if product_id == doomed.pk:
            target = doomed if delete == "product" else doomed.owner
            type(target).objects.filter(pk=target.pk).delete()

    fetch_then(monkeypatch, remove)
    run, outcomes = run_over(registered_pair)

    assert [o.result for o in outcomes] == [SyncResult.SYNCED, SyncResult.SKIPPED]
    assert run.finished_at is not None
    assert (run.products_synced, run.products_skipped, run.products_failed) == (1, 1, 0)
    assert not Product.objects.filter(pk=doomed.pk).exists()
    assert sync_run_start() is not None  # the run's lease was given back: the next one starts


def test_an_unexpected_error_in_one_product_fails_it_and_the_run_still_finishes(
    registered_pair, monkeypatch
):
    broken = registered_pair[0]
    real_store = sync.offers_store_many

    def store(answers):
        if broken.pk in answers:
            raise RuntimeError("a bug")
        return real_store(answers)

    # The batch's store fails as a whole; stored one by one, the others succeed.
    monkeypatch.setattr(sync, "offers_store_many", store)
    run, outcomes = run_over(registered_pair)

    assert [o.result for o in outcomes] == [SyncResult.FAILED, SyncResult.SYNCED]
    assert run.finished_at is not None and run.products_failed == 1
    assert "RuntimeError" in run.errors[str(broken.pk)]
    tracking = ProductTracking.objects.get(pk=broken.pk)
    assert tracking.sync_failures == 1 and "Internal error" in tracking.last_sync_error
    # Its product lease is free again: the next sync of it is not "already being synced".
    assert tracking.sync_lease_holder == "" and tracking.sync_lease_expires_at is None


def test_an_answer_whose_lease_was_taken_over_meanwhile_is_not_stored(registered_pair, monkeypatch):
    product = registered_pair[0]

    def lease_runs_out_and_another_worker_claims_it(product_id):
        ProductTracking.objects.filter(pk=product_id).update(sync_lease_holder="another-worker")

    fetch_then(monkeypatch, lease_runs_out_and_another_worker_claims_it)
    outcome = offers_sync(product_id=product.pk)

    assert outcome.result == SyncResult.SKIPPED and "lease lost" in outcome.error
    assert not ProductSnapshot.objects.filter(product=product).exists()
    assert ProductTracking.objects.get(pk=product.pk).sync_lease_holder == "another-worker"


def test_a_product_suspended_during_the_fetch_is_not_stored(registered_pair, monkeypatch):
    product = registered_pair[0]
    fetch_then(monkeypatch, lambda pid: Product.objects.filter(pk=pid).update(is_suspended=True))

    assert offers_sync(product_id=product.pk).result == SyncResult.SKIPPED
    assert not ProductSnapshot.objects.filter(product=product).exists()


def test_the_snapshot_is_stamped_when_the_answer_arrived_not_when_it_was_stored(
    registered_pair, monkeypatch
):
    product = registered_pair[0]
    arrived = []
    fetch_then(monkeypatch, lambda pid: arrived.append(timezone.now()))
    real_fence = sync._fence

    def busy_database(product_ids, holder):
        time.sleep(0.5)  # waiting for a lock, say, before the store can begin
        return real_fence(product_ids, holder)

    monkeypatch.setattr(sync, "_fence", busy_database)
    offers_sync(product_id=product.pk)

    taken_at = ProductSnapshot.objects.get(product=product).taken_at
    assert abs((taken_at - arrived[0]).total_seconds()) < 0.3


# --- The database's clock ------------------------------------------------------------------------


@pytest.fixture
def process_clock(monkeypatch):
    """Move this process's clock (timezone.now) by a timedelta, leaving the database's alone."""
    real = timezone.now

    def move(by: timedelta) -> None:
        monkeypatch.setattr(timezone, "now", lambda: real() + by)

    return move


def test_a_process_clock_stepped_forward_does_not_end_another_holders_lease(db, process_clock):
    assert lease_claim(name="x", seconds=60)
    process_clock(timedelta(hours=1))
    assert lease_claim(name="x", seconds=60) is None


def test_a_run_stamped_in_the_future_by_a_clock_set_back_does_not_stop_runs_coming_due(
    db, make_sync_run
):
    make_sync_run(started_at=timezone.now() + timedelta(hours=1))
    assert sync_run_due(interval=60)
    make_sync_run(started_at=timezone.now() - timedelta(seconds=10))
    assert not sync_run_due(interval=60)


def test_a_token_expired_by_the_databases_clock_is_not_used_whatever_the_process_says(
    db, offers_simulator, process_clock
):
    client = OffersClient()
    client.register_product(product_id=uuid.uuid4(), name="Kettle", description="")
    first = OffersAccessToken.objects.get().token
    OffersAccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    offers_simulator.expire_tokens()
    process_clock(-timedelta(hours=1))  # this process thinks the token has an hour left

    client.register_product(product_id=uuid.uuid4(), name="Mug", description="")

    assert OffersAccessToken.objects.get().token != first
    assert offers_simulator.stats()["auth"] == {"201": 2}
    assert "401" not in offers_simulator.stats()["register"]  # not sent, then refused


# --- The token store ------------------------------------------------------------------------------


def test_offers_check_with_a_wrong_refresh_token_fails_even_with_a_valid_token_stored(
    db, offers_simulator, settings
):
    call_command("offers_check", stdout=io.StringIO())  # stores a valid token
    settings.OFFERS_REFRESH_TOKEN = "wrong"

    with pytest.raises(CommandError, match="refused the refresh token"):
        call_command("offers_check", stdout=io.StringIO())


def test_a_token_stored_for_another_service_is_not_sent_to_this_one(db, offers_simulator, settings):
    OffersAccessToken.objects.create(
        token="a-token-of-another-service",
        obtained_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=4),
        base_url="https://elsewhere.example.com/api/v1",
        refresh_token_fingerprint="0" * 32,
    )

    OffersClient().register_product(product_id=uuid.uuid4(), name="Kettle", description="")

    row = OffersAccessToken.objects.get()
    assert row.token != "a-token-of-another-service"
    assert row.base_url == offers_simulator.base_url
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_during_a_lockout_syncs_do_not_ask_for_a_token_again(db, offers_simulator):
    import requests

    # Someone else holds the one valid token.
    requests.post(
        f"{offers_simulator.base_url}/auth",
        headers={"Bearer": offers_simulator.refresh_token},
        timeout=5,
    )
    client = OffersClient()
    for _ in range(2):  # the first call learns of the lockout, the second probes once
        with pytest.raises(OffersLockedOut):
            client.get_offers(product_id=uuid.uuid4())
    for _ in range(5):
        with pytest.raises(OffersLockedOut):
            client.get_offers(product_id=uuid.uuid4())

    assert offers_simulator.stats()["auth"] == {"201": 1, "400": 2}
    assert offers_simulator.stats()["offers"] == {}


# --- Registration retries -------------------------------------------------------------------------


def test_a_failed_registration_is_not_tried_again_before_its_backoff(db, user, offers_simulator):
    product = product_create(owner=user, name="Kettle")
    offers_simulator.set_faults(error_rate=1.0, error_statuses=[503])
    first = product_register(product_id=product.pk)
    assert not first.registered and first.retry_in

    # Another driver (the periodic run, a duplicate task) asks again at once: nothing is sent.
    requests_before = offers_simulator.stats()["register"]
    again = product_register(product_id=product.pk)

    assert not again.registered and again.retry_in is None
    assert offers_simulator.stats()["register"] == requests_before
    tracking = ProductTracking.objects.get(pk=product.pk)
    assert tracking.registration_attempts == 1
    # And the periodic run leaves it to its own retry task until that is overdue.
    assert product.pk not in products_due_for_registration()
    ProductTracking.objects.filter(pk=product.pk).update(
        registration_next_attempt_at=datetime(2000, 1, 1, tzinfo=UTC)
    )
    assert product.pk in products_due_for_registration()
