"""The sync of one product: against the simulator over HTTP, and with fixed answers where a
test needs to control exactly what the service says (offers_store, the transaction's half)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pricing.models import (
    Offer,
    OfferObservation,
    ProductSnapshot,
    ProductTracking,
    RegistrationState,
)
from pricing.offers_client import OfferData
from pricing.services import SyncOutcome, SyncResult, offers_store, offers_sync
from products.services import product_suspend

pytestmark = pytest.mark.django_db

A, B, C = (uuid.uuid4() for _ in range(3))


def current(product):
    return {o.offer_id: (o.price, o.items_in_stock) for o in product.offers.current()}


def test_sync_stores_the_services_offers_and_a_snapshot(registered_product, offers_simulator):
    outcome = offers_sync(product_id=registered_product.pk)
    assert outcome.result == SyncResult.SYNCED
    registered_product.refresh_from_db()
    assert registered_product.tracking.last_synced_at is not None
    assert registered_product.tracking.sync_failures == 0
    offers = list(registered_product.offers.current())
    assert len(offers) == outcome.offers
    snapshot = ProductSnapshot.objects.get(product=registered_product)
    assert snapshot.offer_count == len(offers)
    assert snapshot.total_stock == sum(o.items_in_stock for o in offers)
    assert OfferObservation.objects.filter(product=registered_product).count() == len(offers)


def test_ids_persist_with_new_prices_vanished_stop_being_current_new_appear(product):
    t0 = timezone.now()
    offers_store(product=product, offers=[OfferData(A, 100, 5), OfferData(B, 200, 1)], at=t0)
    t1 = t0 + timedelta(minutes=1)
    offers_store(product=product, offers=[OfferData(A, 120, 4), OfferData(C, 300, 9)], at=t1)

    assert current(product) == {A: (120, 4), C: (300, 9)}
    sold_out = Offer.objects.get(product=product, offer_id=B)
    assert not sold_out.is_current
    assert sold_out.last_seen_at == t0
    # Its history stays, closed by a vanish marker at its last price when the sync missed it.
    assert list(sold_out.observations.values_list("observed_at", "price", "vanished")) == [
        (t0, 200, False),
        (t1, 200, True),
    ]
    a = Offer.objects.get(product=product, offer_id=A)
    assert a.first_seen_at == t0 and a.last_seen_at == t1
    assert list(a.observations.values_list("price", flat=True)) == [100, 120]
    assert ProductSnapshot.objects.filter(product=product).count() == 2


def test_a_returning_offer_is_current_again(product):
    t0 = timezone.now()
    offers_store(product=product, offers=[OfferData(A, 100, 5)], at=t0)
    offers_store(product=product, offers=[], at=t0 + timedelta(minutes=1))
    assert current(product) == {}
    offers_store(product=product, offers=[OfferData(A, 100, 5)], at=t0 + timedelta(minutes=2))
    assert current(product) == {A: (100, 5)}
    assert Offer.objects.filter(product=product).count() == 1
    # The vanishing and the return are observed, so its history shows the gap rather than a
    # price carried over it.
    assert list(OfferObservation.objects.values_list("observed_at", "vanished")) == [
        (t0, False),
        (t0 + timedelta(minutes=1), True),
        (t0 + timedelta(minutes=2), False),
    ]


def test_identical_answers_add_only_a_snapshot(product):
    t0 = timezone.now()
    answer = [OfferData(A, 100, 5), OfferData(B, 200, 1)]
    offers_store(product=product, offers=answer, at=t0)
    observations = OfferObservation.objects.count()
    offers_store(product=product, offers=answer, at=t0 + timedelta(minutes=1))
    assert OfferObservation.objects.count() == observations
    assert ProductSnapshot.objects.filter(product=product).count() == 2
    assert Offer.objects.get(offer_id=A).last_seen_at == t0 + timedelta(minutes=1)


def test_observations_only_on_change_of_price_or_stock(product):
    t0 = timezone.now()
    offers_store(product=product, offers=[OfferData(A, 100, 5)], at=t0)
    offers_store(product=product, offers=[OfferData(A, 100, 4)], at=t0 + timedelta(minutes=1))
    offers_store(product=product, offers=[OfferData(A, 100, 4)], at=t0 + timedelta(minutes=2))
    offers_store(product=product, offers=[OfferData(A, 90, 4)], at=t0 + timedelta(minutes=3))
    assert list(OfferObservation.objects.values_list("price", "items_in_stock")) == [
        (100, 5),
        (100, 4),
        (90, 4),
    ]


def test_the_same_offer_id_under_another_product_is_another_offer(product, user):
    from products.services import product_create

    other = product_create(owner=user, name="Other")
    t0 = timezone.now()
    offers_store(product=product, offers=[OfferData(A, 100, 5)], at=t0)
    offers_store(product=other, offers=[OfferData(A, 999, 1)], at=t0)
    assert current(product) == {A: (100, 5)}
    assert current(other) == {A: (999, 1)}


def test_snapshot_statistics(product):
    offers_store(
        product=product, offers=[OfferData(A, 100, 1), OfferData(B, 300, 3)], at=timezone.now()
    )
    snapshot = ProductSnapshot.objects.get()
    assert (snapshot.min_price, snapshot.max_price) == (100, 300)
    assert snapshot.mean_price == 200
    assert snapshot.median_price == 200
    assert snapshot.weighted_mean_price == 250  # (100·1 + 300·3) / 4


def test_the_store_takes_a_constant_number_of_queries(product, django_assert_max_num_queries):
    t0 = timezone.now()
    offers_store(
        product=product, offers=[OfferData(uuid.uuid4(), 10 + i, 1) for i in range(10)], at=t0
    )
    answer = [OfferData(uuid.uuid4(), 5 + i, 2) for i in range(10)]
    # 12, and for alerts: which products were synced before, and their rules (none here). The
    # ten vanish markers of the offers that left, and the price rises and drops, cost nothing.
    with django_assert_max_num_queries(14):
        offers_store(product=product, offers=answer, at=t0 + timedelta(minutes=1))


def test_price_rises_and_drops_are_counted_per_sync_from_the_first_comparable_one(product):
    t0 = timezone.now()
    offers_store(product=product, offers=[OfferData(A, 100, 5), OfferData(B, 200, 1)], at=t0)
    offers_store(
        product=product,
        offers=[OfferData(A, 120, 5), OfferData(C, 50, 1)],  # A up; B vanishes; C new
        at=t0 + timedelta(minutes=1),
    )
    offers_store(
        product=product,
        offers=[OfferData(A, 110, 2), OfferData(B, 150, 1), OfferData(C, 50, 0)],  # B back lower
        at=t0 + timedelta(minutes=2),
    )
    offers_store(product=product, offers=[], at=t0 + timedelta(minutes=3))
    changes = ProductSnapshot.objects.filter(product=product).values_list(
        "price_rises", "price_drops"
    )
    # None at the first sync, like the other change counts; a stock change is no price change.
    assert list(changes) == [(None, None), (1, 0), (0, 2), (0, 0)]


def test_a_vanished_offer_gets_a_marker_at_its_last_price_that_changes_no_reading(product):
    from pricing.rollups import rollups_rebuild
    from pricing.selectors import Bucket, current_offers, price_trend

    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=6)
    answers = [
        [OfferData(A, 100, 5), OfferData(B, 200, 1)],
        [OfferData(A, 100, 5)],  # B vanishes
        [OfferData(A, 90, 5)],
        [OfferData(A, 90, 5), OfferData(B, 180, 2)],  # B is back, cheaper
        [],  # both vanish
        [OfferData(B, 180, 2)],
    ]
    written = [
        offers_store(product=product, offers=offers, at=t0 + timedelta(hours=i, minutes=7 * i))
        for i, offers in enumerate(answers)
    ]
    # Markers are not counted as written: only new or changed offers are.
    assert written == [2, 0, 1, 1, 0, 1]
    markers = OfferObservation.objects.filter(vanished=True).order_by("observed_at", "price")
    assert [(m.offer.offer_id, m.price, m.items_in_stock, m.observed_at) for m in markers] == [
        (B, 200, 1, t0 + timedelta(hours=1, minutes=7)),
        (A, 90, 5, t0 + timedelta(hours=4, minutes=28)),
        (B, 180, 2, t0 + timedelta(hours=4, minutes=28)),
    ]
    end = timezone.now()

    def readings():
        tz = timezone.get_current_timezone()
        return (
            current_offers(product=product),
            [
                price_trend(product=product, start=t0, end=end, tz=tz, bucket=bucket)
                for bucket in (Bucket.RAW, Bucket.MINUTE, Bucket.HOUR)
            ],
        )

    with_markers = readings()
    offers, _ = with_markers
    assert [(o.offer_id, o.previous_price) for o in offers] == [(B, 180)]
    OfferObservation.objects.filter(vanished=True).delete()
    rollups_rebuild(product_ids=[product.pk])
    assert readings() == with_markers


@pytest.mark.parametrize("fault", [{"malformed_rate": 1.0}, {"error_rate": 1.0}])
def test_a_malformed_or_failed_fetch_changes_nothing(
    registered_product, offers_simulator, settings, fault
):
    settings.OFFERS_RETRIES = 0
    assert offers_sync(product_id=registered_product.pk).result == SyncResult.SYNCED
    before = current(registered_product)
    snapshots = ProductSnapshot.objects.count()

    offers_simulator.set_faults(**fault)
    outcome = offers_sync(product_id=registered_product.pk)
    assert outcome.result == SyncResult.FAILED
    assert current(registered_product) == before
    assert ProductSnapshot.objects.count() == snapshots
    registered_product.refresh_from_db()
    assert registered_product.tracking.sync_failures == 1
    assert registered_product.tracking.last_sync_error == outcome.error
    assert registered_product.tracking.last_sync_error_at is not None

    offers_simulator.reset()
    assert offers_sync(product_id=registered_product.pk).result == SyncResult.SYNCED
    registered_product.refresh_from_db()
    assert registered_product.tracking.sync_failures == 0
    assert registered_product.tracking.last_sync_error == ""


def test_a_404_ends_the_sync_needing_registration(registered_product, offers_simulator):
    offers_simulator.forget_registrations()
    outcome = offers_sync(product_id=registered_product.pk)
    assert outcome.result == SyncResult.NEEDS_REGISTRATION
    registered_product.refresh_from_db()
    assert registered_product.tracking.registration_state == RegistrationState.PENDING
    stats = offers_simulator.stats()
    assert stats["offers"] == {"404": 1}
    assert stats["register"] == {"201": 1}  # not registered again inside the sync


def test_the_sync_task_registers_a_forgotten_product_and_syncs_it(
    registered_product, offers_simulator, huey_immediate
):
    from pricing.tasks import sync_product_task

    offers_simulator.forget_registrations()
    sync_product_task(registered_product.pk)
    registered_product.refresh_from_db()
    assert registered_product.tracking.registration_state == RegistrationState.REGISTERED
    assert registered_product.tracking.last_synced_at is not None
    stats = offers_simulator.stats()
    assert stats["offers"] == {"404": 1, "200": 1}
    assert stats["register"] == {"201": 2}


def test_suspended_and_unregistered_products_are_skipped(product, offers_simulator):
    assert offers_sync(product_id=product.pk).result == SyncResult.SKIPPED  # pending
    product_suspend(product=product, reason="spam")
    ProductTracking.objects.filter(pk=product.pk).update(
        registration_state=RegistrationState.REGISTERED
    )
    assert offers_sync(product_id=product.pk).result == SyncResult.SKIPPED
    assert offers_simulator.stats().get("offers", {}) == {}


def test_a_product_being_synced_is_not_synced_twice(registered_product, offers_simulator):
    from pricing.sync import _claim

    assert _claim([registered_product.pk], "another-batch") == [registered_product.pk]
    outcome = offers_sync(product_id=registered_product.pk)
    assert outcome == SyncOutcome(SyncResult.SKIPPED, error="already being synced")
    assert offers_simulator.stats().get("offers", {}) == {}
