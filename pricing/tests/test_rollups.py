"""Roll-ups and retention: what the sync keeps equals what the raw rows give, trends read from
roll-ups equal trends read from raw rows bucket for bucket, and pruning changes no figure a
whole-hour period shows."""

import itertools
import random
import uuid
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from pricing.models import (
    OfferObservation,
    ProductSnapshot,
    RawHistoryHorizon,
    SnapshotRollup,
)
from pricing.offers_client import OfferData
from pricing.retention import history_prune
from pricing.rollups import CHANGE_COUNTS, SUMS_FIELDS, rollups_rebuild
from pricing.selectors import (
    Bucket,
    TrendTooFine,
    current_offers,
    history_start,
    price_change_many,
    price_trend,
    product_stats,
)
from pricing.services import offers_store_many
from pricing.tests.history import PRAGUE, T0, H, M, rollup_differences, rollup_state
from pricing.trends import sources
from products.services import product_create

KOLKATA = ZoneInfo("Asia/Kolkata")  # +05:30: hours are not its buckets' boundaries
ZONES = (ZoneInfo("UTC"), PRAGUE, KOLKATA)


def sync_history(products, *, start, days, every=10 * M, seed=7):
    """Store answers the way the sync does, `every` apart over `days`: random walks of a few
    offers per product, with offers leaving and coming back, an answer without offers, one
    whose stock is all zero, and an outage of five hours."""
    rng = random.Random(seed)
    offers = {p.pk: {uuid.uuid4(): rng.randint(100, 900) for _ in range(4)} for p in products}
    at, end = start + 3 * M, start + timedelta(days=days)
    step = 0
    while at < end:
        answers = {}
        for product in products:
            current = offers[product.pk]
            for offer_id in current:
                current[offer_id] = max(1, current[offer_id] + rng.randint(-9, 9))
            shown = [oid for oid in current if rng.random() > 0.15]
            if step == 40:
                shown = []  # no offers: every figure but the counts undefined
            stock = 0 if step == 41 else None  # no stock: no weighted mean
            answers[product.pk] = (
                [
                    OfferData(oid, current[oid], rng.randint(0, 5) if stock is None else 0)
                    for oid in shown
                ],
                at,
            )
        offers_store_many(answers)
        step += 1
        at += every + rng.randint(0, 50) * timedelta(seconds=1)
        if step == 100:
            at += 5 * H
    return end


@pytest.fixture
def two_products(user):
    return [product_create(owner=user, name=f"Grinder {i}") for i in range(2)]


@pytest.mark.django_db
def test_the_rollups_the_sync_keeps_are_those_of_its_raw_rows(two_products):
    sync_history(two_products, start=T0, days=2, every=20 * M)
    snapshots, observations = rollup_state()
    assert {span for _, span, _ in snapshots} == {"hour", "day"}
    assert len(observations) > 100
    # Every snapshot is counted once in its hour and once in its day.
    for span in ("hour", "day"):
        counted = sum(s.snapshots for (_, sp, _), s in snapshots.items() if sp == span)
        assert counted == ProductSnapshot.objects.count()
    # The market's sums are there to compare too (pricing.market): changes, held time, extremes.
    days = [s for (_, span, _), s in snapshots.items() if span == "day"]
    for name in (*CHANGE_COUNTS, "held_seconds", "held_mean_sum", "mean_sq_sum"):
        assert sum(getattr(s, name) for s in days) > 0, name
    assert all(s.max_min_price >= s.min_price for s in days if s.min_price is not None)
    assert rollup_differences() == []


@pytest.mark.django_db
def test_held_sums_count_each_snapshots_values_until_the_next_one(two_products):
    sync_history(two_products, start=T0, days=2, every=20 * M)
    for product in two_products:
        taken = ProductSnapshot.objects.filter(product=product).values_list(
            "taken_at", "mean_price", "min_price"
        )
        # Each snapshot with offers holds its values until the next one (time without offers
        # is left out); the last one's interval is still open.
        held = [
            ((b - a).total_seconds(), mean, low)
            for (a, mean, low), (b, _, _) in itertools.pairwise(taken)
            if mean is not None
        ]
        days = SnapshotRollup.objects.filter(product=product, span="day")
        for column, expected in (
            ("held_seconds", sum(seconds for seconds, _, _ in held)),
            ("held_mean_sum", sum(seconds * mean for seconds, mean, _ in held)),
            ("held_min_sum", sum(seconds * low for seconds, _, low in held)),
        ):
            assert sum(getattr(row, column) for row in days) == pytest.approx(expected)


@pytest.mark.django_db
def test_a_rebuild_from_a_day_on_continues_the_held_sums_of_the_day_before(two_products):
    sync_history(two_products, start=T0, days=3, every=20 * M)
    kept, _ = rollup_state()
    rollups_rebuild(since=T0 + timedelta(days=1, hours=7))
    rebuilt, _ = rollup_state()
    assert rebuilt.keys() == kept.keys()
    for key, sums in kept.items():
        for name in SUMS_FIELDS:
            a, b = getattr(sums, name), getattr(rebuilt[key], name)
            assert a == pytest.approx(b, rel=1e-12) if isinstance(a, float) else a == b, (key, name)


def raw_only(monkeypatch):
    """Make the trend engine read every piece of a period from the raw rows."""

    def pieces(start, end, *, grid, horizon):
        return [sources.Piece(sources.Source.RAW, start, end)]

    monkeypatch.setattr("pricing.trends.trend.history_pieces", pieces)
    monkeypatch.setattr("pricing.trends.planning.history_pieces", pieces)


def assert_same_trend(rolled, raw):
    assert rolled.bucket == raw.bucket
    assert [p.at for p in rolled.points] == [p.at for p in raw.points]
    for a, b in zip(rolled.points, raw.points, strict=True):
        assert (a.min, a.max, a.offer_count, a.total_stock) == (
            b.min,
            b.max,
            b.offer_count,
            b.total_stock,
        )
        for name in ("mean", "weighted_mean"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None) and (x is None or x == pytest.approx(y, rel=1e-12))
    assert rolled.offers == raw.offers
    assert rolled.change == raw.change


@pytest.mark.django_db
def test_a_trend_from_rollups_is_the_trend_from_raw_rows(two_products, monkeypatch):
    product = two_products[0]
    end = sync_history(two_products, start=T0, days=9, every=30 * M)
    periods = [
        (T0, end),  # whole days
        (T0 + 17 * M, end - 3 * H - 7 * M),  # minutes at both edges
        (T0 + timedelta(days=2, hours=5), T0 + timedelta(days=6, hours=1)),  # whole hours
    ]
    cases = [
        (tz, bucket, start, end)
        for tz in ZONES
        for bucket in (Bucket.HOUR, Bucket.SIX_HOURS, Bucket.DAY, Bucket.WEEK)
        for start, end in periods
    ]
    rolled = [
        price_trend(product=product, start=s, end=e, tz=tz, bucket=bucket)
        for tz, bucket, s, e in cases
    ]
    used = {
        (tz.key, bucket, piece.source)
        for tz, bucket, s, e in cases
        for piece in sources.history_pieces(
            s, e, grid=sources.BucketGrid.of(bucket, tz, s, e), horizon=None
        )
    }
    # Hours serve every bucket from an hour on in whole-hour zones, days from a day on in UTC;
    # a half-hour zone's buckets cut hours in two: raw rows only, until they are pruned.
    assert {("Europe/Prague", b, sources.Source.HOUR) for b in (Bucket.HOUR, Bucket.WEEK)} <= used
    assert ("UTC", Bucket.DAY, sources.Source.DAY) in used
    assert not any(
        source is not sources.Source.RAW for key, _, source in used if key == KOLKATA.key
    )
    raw_only(monkeypatch)
    for (tz, bucket, s, e), trend in zip(cases, rolled, strict=True):
        raw = price_trend(product=product, start=s, end=e, tz=tz, bucket=bucket)
        assert raw.points and raw.offers
        assert_same_trend(trend, raw)


@pytest.mark.django_db
def test_pruning_keeps_every_whole_hour_figure_and_bounds_each_step(two_products, settings):
    settings.HISTORY_RAW_DAYS = 3
    settings.HISTORY_PRUNE_CHUNK = 40
    product = two_products[0]
    end = sync_history(two_products, start=T0, days=6, every=20 * M)
    now = end + 5 * M
    day_trend = dict(start=T0, end=end, tz=ZoneInfo("UTC"), bucket=Bucket.DAY)
    hour_trend = dict(start=T0 + 2 * H, end=T0 + timedelta(days=2), tz=PRAGUE, bucket=Bucket.HOUR)
    changes = dict(product_ids=[p.pk for p in two_products], start=T0 + 5 * H, end=end - 2 * H)
    before = {
        "day": price_trend(product=product, **day_trend),
        "hour": price_trend(product=product, **hour_trend),
        "change": price_change_many(**changes),
        "start": history_start(product=product),
        "stats": product_stats(product=product),
        "offers": current_offers(product=product),
    }
    assert before["change"][product.pk] is not None
    raw_counts = ProductSnapshot.objects.count(), OfferObservation.objects.count()

    steps = []
    while not steps or not steps[-1].done:
        steps.append(history_prune(now=now, max_rows=150))
    assert len(steps) > 2 and all(s.snapshots + s.observations <= 150 for s in steps)
    horizon = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert RawHistoryHorizon.objects.get().raw_since == horizon == steps[-1].horizon
    assert not ProductSnapshot.objects.filter(taken_at__lt=horizon).exists()
    assert ProductSnapshot.objects.count() < raw_counts[0]
    assert OfferObservation.objects.count() < raw_counts[1]

    assert_same_trend(price_trend(product=product, **day_trend), before["day"])
    assert_same_trend(price_trend(product=product, **hour_trend), before["hour"])
    assert price_change_many(**changes) == before["change"]
    assert history_start(product=product) == before["start"]
    assert product_stats(product=product) == before["stats"]
    assert current_offers(product=product) == before["offers"]
    # Minutes are gone before the horizon: hours at the finest.
    with pytest.raises(TrendTooFine, match="hour buckets or coarser"):
        price_trend(product=product, start=T0, end=T0 + 2 * H, tz=PRAGUE, bucket=Bucket.MINUTE)
    auto = price_trend(product=product, start=T0 + 2 * H, end=T0 + 5 * H, tz=PRAGUE)
    assert auto.bucket == Bucket.HOUR and len(auto.points) == 3
    # A second pruning finds nothing left; the sync goes on adding to the roll-ups.
    assert history_prune(now=now).snapshots == 0
    offers_store_many({product.pk: ([OfferData(uuid.uuid4(), 500, 2)], now)})
    assert price_trend(product=product, **{**day_trend, "end": now + M}).points[-1].min == 500


@pytest.mark.django_db
def test_a_product_long_unsynced_keeps_its_latest_figures_and_offers(two_products, settings):
    settings.HISTORY_RAW_DAYS = 1
    product = two_products[0]
    end = sync_history(two_products, start=T0, days=1, every=30 * M)
    stats, offers = product_stats(product=product), current_offers(product=product)
    assert any(not offer.is_new for offer in offers)
    history_prune(now=end + timedelta(days=40))
    assert ProductSnapshot.objects.filter(product=product).count() == 1
    assert product_stats(product=product) == stats
    assert current_offers(product=product) == offers
    later = T0.astimezone(UTC) + timedelta(days=30)
    assert price_trend(product=product, start=T0, end=later, tz=PRAGUE).points


@pytest.mark.django_db
def test_the_command_prunes_everything_and_the_task_one_bounded_step(two_products, settings):
    from io import StringIO

    from django.core.management import call_command
    from django.utils import timezone

    from pricing.leases import lease
    from pricing.tasks import PRUNE_LEASE, prune_history_task

    settings.HISTORY_RAW_DAYS = 2
    settings.HISTORY_PRUNE_MAX_ROWS = 50
    start = timezone.now() - timedelta(days=5)
    sync_history(two_products, start=start, days=4, every=60 * M)
    old = ProductSnapshot.objects.filter(taken_at__lt=timezone.now() - timedelta(days=3))
    total = old.count()
    assert total > 50
    with lease(PRUNE_LEASE, seconds=60):  # another run in progress: this one leaves it be
        prune_history_task.call_local()
    assert old.count() == total
    prune_history_task.call_local()  # one step: at most 50 rows
    assert total - 50 <= old.count() < total
    out = StringIO()
    call_command("prune_history", stdout=out)
    assert not old.exists()
    assert "snapshots and" in out.getvalue() and "roll-ups keep" in out.getvalue()
    settings.HISTORY_RAW_DAYS = 0
    out = StringIO()
    call_command("prune_history", stdout=out)
    assert "kept for ever" in out.getvalue()
