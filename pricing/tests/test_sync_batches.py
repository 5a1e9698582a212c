"""The sync in batches (issue 15): runs split into batch tasks, a batch claimed in one statement,
fetched concurrently with one token, stored in a constant number of queries, its leases renewed
while its calls are in flight; the runs that drive them."""

import threading
import uuid

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from pricing import sync, tasks
from pricing.models import ProductSnapshot, ProductTracking, SyncRun
from pricing.offers_client import OffersClient
from pricing.services import (
    SyncOutcome,
    SyncResult,
    offers_sync_batch,
    product_register,
    sync_run_enqueue,
    sync_run_record,
    sync_run_start,
)
from products.services import product_create


@pytest.fixture
def make_registered(user, offers_simulator):
    def make(count: int) -> list[uuid.UUID]:
        ids = [product_create(owner=user, name=f"Batch product {i:02}").pk for i in range(count)]
        for product_id in ids:
            assert product_register(product_id=product_id).registered
        return ids

    return make


# --- Runs in batches -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_hands_its_products_over_in_batches_in_order(make_registered, settings):
    settings.OFFERS_SYNC_BATCH_SIZE = 2
    ids = make_registered(5)
    run = sync_run_start()
    batches = []

    assert sync_run_enqueue(run=run, enqueue=batches.append) == 5

    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert [pk for batch in batches for pk in batch] == sorted(ids)
    run.refresh_from_db()
    assert (run.products_total, run.is_planned, run.finished_at) == (5, True, None)
    for batch in batches:
        offers_sync_batch(product_ids=batch, run_id=run.pk)
    run.refresh_from_db()
    assert (run.products_synced, run.products_failed, run.products_skipped) == (5, 0, 0)
    assert run.finished_at is not None


@pytest.mark.django_db
def test_a_run_does_not_finish_before_it_knows_its_size(make_registered, settings):
    # A batch synced while the scheduler is still enqueueing (a quick consumer) does not finish
    # the run, though every product enqueued so far has an outcome.
    settings.OFFERS_SYNC_BATCH_SIZE = 1
    make_registered(2)
    run = sync_run_start()
    states = []

    def sync_at_once(batch):
        offers_sync_batch(product_ids=batch, run_id=run.pk)
        states.append(SyncRun.objects.get(pk=run.pk).finished_at)

    sync_run_enqueue(run=run, enqueue=sync_at_once)

    assert states == [None, None]
    run.refresh_from_db()
    assert run.finished_at is not None and run.products_synced == 2


@pytest.mark.django_db
def test_the_run_task_enqueues_a_task_per_batch(make_registered, settings, huey_immediate):
    settings.OFFERS_SYNC_BATCH_SIZE = 2
    ids = make_registered(3)
    tasks.sync_run_task()
    run = SyncRun.objects.get()
    assert (run.products_total, run.products_synced, run.finished_at is not None) == (3, 3, True)
    assert ProductSnapshot.objects.filter(product_id__in=ids).count() == 3


@pytest.mark.django_db
def test_a_runs_kept_error_messages_are_capped_and_its_counts_exact(db):
    run = sync_run_start()
    outcomes = {
        uuid.uuid4(): SyncOutcome(SyncResult.FAILED, error="down")
        for _ in range(sync.RUN_ERRORS_KEPT + 50)
    }
    sync_run_record(run_id=run.pk, outcomes=outcomes)
    run.refresh_from_db()
    assert run.products_failed == sync.RUN_ERRORS_KEPT + 50
    assert len(run.errors) == sync.RUN_ERRORS_KEPT


# --- The cost of a batch ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_for_two_products_as_for_twelve(make_registered):
    small, large = make_registered(2), make_registered(12)

    def queries(ids):
        with CaptureQueriesContext(connection) as captured:
            outcomes = offers_sync_batch(product_ids=ids)
        assert {o.result for o in outcomes.values()} == {SyncResult.SYNCED}
        return len(captured)

    # Every offer new, then every offer unchanged: a constant number of statements either way.
    assert queries(small) == queries(large)
    assert queries(small) == queries(large)


# --- Claims and leases ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_hand_a_product_to_two_batches(user):
    ids = [product_create(owner=user, name=f"P{i:02}").pk for i in range(40)]
    ProductTracking.objects.update(registration_state="registered")
    won: dict[str, list[uuid.UUID]] = {}
    start = threading.Barrier(4)

    def claim(holder: str) -> None:
        try:
            start.wait()
            won[holder] = sync._claim(ids, holder)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(f"batch-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    claimed = [pk for pks in won.values() for pk in pks]
    assert sorted(claimed) == sorted(ids)  # each once, by one of them
    holders = dict(ProductTracking.objects.values_list("pk", "sync_lease_holder"))
    for holder, pks in won.items():
        assert all(holders[pk] == holder for pk in pks)


@pytest.mark.django_db
def test_a_claim_skips_products_being_synced_suspended_or_not_registered(user):
    busy, free, pending = (product_create(owner=user, name=n).pk for n in ("A", "B", "C"))
    ProductTracking.objects.exclude(pk=pending).update(registration_state="registered")
    assert sync._claim([busy], "someone-else") == [busy]

    assert sync._claim([busy, free, pending], "us") == [free]
    outcomes = sync._not_claimed([busy, pending])
    assert outcomes[busy].error == "already being synced"
    assert outcomes[pending].error == "not an active registered product"


@pytest.mark.django_db
def test_an_expired_lease_can_be_claimed_again(user):
    product_id = product_create(owner=user, name="Kettle").pk
    ProductTracking.objects.update(registration_state="registered")
    assert sync._claim([product_id], "dead-worker") == [product_id]
    assert sync._claim([product_id], "us") == []
    ProductTracking.objects.update(sync_lease_expires_at=sync.Now())
    assert sync._claim([product_id], "us") == [product_id]


@pytest.mark.django_db
def test_a_batch_renews_its_leases_and_its_runs_while_its_calls_are_in_flight(
    make_registered, offers_simulator, settings, monkeypatch
):
    # Leases of a second, renewed every 0.2 s, and calls that take 1.5 s: without renewals
    # another batch could claim the product meanwhile and this one's answer would be dropped.
    settings.OFFERS_READ_TIMEOUT = 5
    monkeypatch.setattr(sync, "SYNC_LEASE_SECONDS", 1.0)
    monkeypatch.setattr(sync, "LEASE_RENEW_EVERY", 0.2)
    [product_id] = make_registered(1)
    run = sync_run_start()
    sync_run_enqueue(run=run, enqueue=lambda batch: None)
    first_expiry = SyncRun.objects.get(pk=run.pk).lease_expires_at
    offers_simulator.set_faults(latency_ms=1500)
    taken_over = []
    real = OffersClient.get_offers_many

    def get_offers_many(self, product_ids, **kwargs):
        answers = real(self, product_ids, **kwargs)
        taken_over.append(sync._claim(product_ids, "another-batch"))
        return answers

    monkeypatch.setattr(OffersClient, "get_offers_many", get_offers_many)

    outcome = offers_sync_batch(product_ids=[product_id], run_id=run.pk)[product_id]

    assert taken_over == [[]]  # still held, 1.5 s after a claim of 1 s
    assert outcome.result == SyncResult.SYNCED
    run.refresh_from_db()
    assert run.lease_expires_at > first_expiry
    tracking = ProductTracking.objects.get(pk=product_id)
    assert (tracking.sync_lease_holder, tracking.sync_lease_expires_at) == ("", None)


# --- Fetching concurrently -----------------------------------------------------------------------


def _most_at_once(entries) -> int:
    events = sorted(
        [(entry["received_at"], 1) for entry in entries]
        + [(entry["sent_at"], -1) for entry in entries]
    )
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


@pytest.mark.django_db
def test_calls_are_concurrent_but_bounded(make_registered, offers_simulator, make_client):
    ids = make_registered(12)
    before = offers_simulator.served_page()["last"]
    offers_simulator.set_faults(latency_ms=200)
    client = make_client(concurrency=4)

    answers = client.get_offers_many(ids)

    assert all(answer.offers is not None for answer in answers.values())
    served = offers_simulator.served_log(after=before)
    assert len(served) == 12
    assert _most_at_once(served) == 4  # four at a time, never more


@pytest.mark.django_db
def test_one_token_for_a_batch_replaced_once_when_refused(
    make_registered, offers_simulator, make_client
):
    ids = make_registered(6)
    client = make_client(concurrency=3)
    offers_simulator.expire_tokens()  # the stored token is refused from now on (401)
    before = offers_simulator.stats()["auth"].get("201", 0)

    answers = client.get_offers_many(ids)

    assert all(answer.error is None for answer in answers.values())
    assert offers_simulator.stats()["auth"].get("201", 0) == before + 1
