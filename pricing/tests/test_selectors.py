"""The read side: current statistics, percentage changes, sparklines and trends.

Most tests write snapshots, offers and observations directly (bulk_create) for exact control of
times and prices; the sync's own writes are covered by test_sync.py, and one test at the end
reads what real syncs against the simulator left behind.
"""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from pricing.models import Offer, OfferObservation, ProductSnapshot, SyncRun
from pricing.offers_client import OfferData
from pricing.selectors import (
    MAX_TREND_POINTS,
    Bucket,
    CurrentStatistics,
    OfferSeries,
    TrendTooLarge,
    current_offers,
    history_start,
    latest_sync_run,
    price_change,
    price_change_many,
    price_trend,
    product_stats,
    product_stats_many,
    sparkline_many,
)
from pricing.services import SyncStatus, offers_store, offers_sync
from pricing.statistics import offer_statistics, percentage_change
from pricing.testing import minute_snapshots
from products.models import Product

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, midnight UTC
PRAGUE = ZoneInfo("Europe/Prague")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def snapshots(product, *points, offers=1, stock=10):
    """Write snapshots: each point is (taken_at, mean) or (taken_at, mean, min, max)."""
    rows = []
    for point in points:
        at, mean, *bounds = point
        if bounds:
            low, high = bounds
        else:
            low = high = None if mean is None else round(mean)
        rows.append(
            ProductSnapshot(
                product=product,
                taken_at=at,
                offer_count=0 if mean is None else offers,
                total_stock=0 if mean is None else stock,
                min_price=low,
                max_price=high,
                mean_price=mean,
                median_price=mean,
                weighted_mean_price=mean,
            )
        )
    ProductSnapshot.objects.bulk_create(rows, batch_size=5000)


def every(step, *, start=T0, count, mean=lambda i: 100.0):
    return [(start + step * i, mean(i)) for i in range(count)]


def offer(product, *, first_seen, last_seen, changes, offer_id=None):
    """An offer with its observations: `changes` is [(observed_at, price), ...]."""
    row = Offer.objects.create(
        product=product,
        offer_id=offer_id or uuid.uuid4(),
        price=changes[-1][1],
        items_in_stock=1,
        is_current=False,
        first_seen_at=first_seen,
        last_seen_at=last_seen,
    )
    OfferObservation.objects.bulk_create(
        OfferObservation(offer=row, product=product, observed_at=at, price=p, items_in_stock=1)
        for at, p in changes
    )
    return row


@pytest.fixture
def products(user):
    return Product.objects.bulk_create(
        [Product(owner=user, name=f"Product {i:02}") for i in range(50)]
    )


# --- Current statistics --------------------------------------------------------------------------


def test_a_never_synced_product_has_no_offers_and_no_figures(product):
    current = product_stats(product=product)
    assert current == CurrentStatistics(stats=offer_statistics([]), as_of=None)
    assert current.stats.offer_count == 0
    assert current.stats.mean_price is None
    assert current.stats.weighted_mean_price is None


def test_current_statistics_are_the_latest_snapshots(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 50, 1)], at=T0)
    offers_store(
        product=product,
        offers=[OfferData(uuid.uuid4(), 100, 1), OfferData(uuid.uuid4(), 300, 3)],
        at=T0 + H,
    )
    current = product_stats(product=product)
    assert current.as_of == T0 + H
    assert current.stats == offer_statistics([(100, 1), (300, 3)])
    assert current.stats.weighted_mean_price == 250.0


def test_a_sync_without_offers_gives_none_not_zero(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 50, 1)], at=T0)
    offers_store(product=product, offers=[], at=T0 + H)
    stats = product_stats(product=product).stats
    assert (stats.offer_count, stats.total_stock) == (0, 0)
    assert stats.min_price is stats.max_price is stats.mean_price is None
    assert stats.median_price is stats.weighted_mean_price is None


def test_zero_total_stock_leaves_only_the_weighted_mean_undefined(product):
    offers_store(
        product=product,
        offers=[OfferData(uuid.uuid4(), 100, 0), OfferData(uuid.uuid4(), 200, 0)],
        at=T0,
    )
    stats = product_stats(product=product).stats
    assert stats.total_stock == 0
    assert stats.weighted_mean_price is None
    assert (stats.min_price, stats.max_price, stats.mean_price) == (100, 200, 150.0)


def test_a_single_offer_is_its_own_min_max_mean_median(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 1234, 7)], at=T0)
    stats = product_stats(product=product).stats
    assert (stats.offer_count, stats.total_stock) == (1, 7)
    assert stats.min_price == stats.max_price == 1234
    assert stats.mean_price == stats.median_price == stats.weighted_mean_price == 1234.0


def test_equal_prices_give_equal_figures(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 99, s) for s in (1, 5, 0)], at=T0)
    stats = product_stats(product=product).stats
    assert stats.min_price == stats.max_price == 99
    assert stats.mean_price == stats.median_price == stats.weighted_mean_price == 99.0


def test_statistics_of_many_products_take_one_query(products, django_assert_num_queries):
    for i, p in enumerate(products[:40]):
        snapshots(p, (T0, 10.0), (T0 + H, 100.0 + i))
    unknown = uuid.uuid4()
    with django_assert_num_queries(1):
        answer = product_stats_many(product_ids=[p.pk for p in products] + [unknown])
    assert set(answer) == {p.pk for p in products} | {unknown}
    assert answer[products[3].pk].stats.mean_price == 103.0
    assert answer[products[3].pk].as_of == T0 + H
    assert answer[products[45].pk].as_of is None
    assert answer[unknown].stats.offer_count == 0


def test_statistics_of_no_products_take_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert product_stats_many(product_ids=[]) == {}


def test_current_offers_are_the_latest_answer_cheapest_first_with_their_change(product):
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    offers_store(product=product, offers=[OfferData(a, 200, 1), OfferData(b, 50, 2)], at=T0)
    offers_store(product=product, offers=[OfferData(a, 150, 1), OfferData(c, 80, 0)], at=T0 + H)
    offers_store(product=product, offers=[OfferData(a, 150, 3), OfferData(c, 80, 0)], at=T0 + 2 * H)
    rows = current_offers(product=product)
    assert [(o.offer_id, o.price, o.items_in_stock) for o in rows] == [(c, 80, 0), (a, 150, 3)]
    # c is new; a's previous observation is the stock change at 150 (so 0.00), not its 200.
    assert [(o.previous_price, o.change, o.is_new) for o in rows] == [
        (None, None, True),
        (150, 0.0, False),
    ]
    assert rows[1].first_seen_at == T0 and rows[1].last_seen_at == T0 + 2 * H


def test_the_change_is_since_the_previous_observation(product):
    a = uuid.uuid4()
    for hour, price in enumerate([200, 150, 165]):
        offers_store(product=product, offers=[OfferData(a, price, 1)], at=T0 + hour * H)
    assert current_offers(product=product)[0].change == 10.0  # 150 → 165


def test_the_history_starts_at_the_first_snapshot(product):
    assert history_start(product=product) is None
    snapshots(product, (T0 + H, 1.0), (T0, 2.0))
    assert history_start(product=product) == T0


# --- Percentage change ---------------------------------------------------------------------------


def test_the_change_starts_from_the_price_in_force_at_the_start(product):
    snapshots(product, (T0 - timedelta(days=3), 100.0), (T0 + H, 110.0), (T0 + 2 * H, 120.0))
    assert price_change(product=product, start=T0, end=T0 + 3 * H) == 20.0


def test_without_an_earlier_snapshot_the_change_starts_from_the_first_inside(product):
    snapshots(product, (T0 + H, 80.0), (T0 + 2 * H, 100.0))
    assert price_change(product=product, start=T0, end=T0 + 3 * H) == 25.0


def test_a_snapshot_exactly_at_the_end_is_outside_the_period(product):
    snapshots(product, (T0, 100.0), (T0 + H, 150.0), (T0 + 2 * H, 1000.0))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) == 50.0


def test_a_snapshot_exactly_at_the_start_is_the_start(product):
    snapshots(product, (T0 - H, 1.0), (T0, 200.0), (T0 + H, 100.0))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) == -50.0


def test_no_snapshot_before_the_end_means_no_change(product):
    snapshots(product, (T0 + 5 * H, 100.0))
    assert price_change(product=product, start=T0, end=T0 + 5 * H) is None
    assert price_change(product=product, start=T0, end=T0 + 6 * H) == 0.0


def test_an_unchanged_price_is_zero_not_none(product):
    snapshots(product, (T0 - H, 100.0), (T0 + H, 100.0))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) == 0.0
    # No snapshot inside the period at all: the price in force did not change either.
    assert price_change(product=product, start=T0 + 2 * H, end=T0 + 3 * H) == 0.0


def test_a_start_mean_of_zero_gives_no_change(product):
    snapshots(product, (T0, 0.0), (T0 + H, 100.0))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) is None


def test_no_offers_at_the_start_or_the_end_gives_no_change(product):
    snapshots(product, (T0, None), (T0 + H, 100.0), (T0 + 2 * H, None))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) is None
    assert price_change(product=product, start=T0 + H, end=T0 + 3 * H) is None


def test_the_change_has_two_decimals(product):
    snapshots(product, (T0, 300.0), (T0 + H, 400.0))
    assert price_change(product=product, start=T0, end=T0 + 2 * H) == 33.33


def test_an_empty_or_inverted_period_has_no_change(product):
    snapshots(product, (T0, 100.0))
    assert price_change(product=product, start=T0 + H, end=T0 + H) is None
    assert price_change(product=product, start=T0 + H, end=T0) is None


def test_naive_datetimes_are_refused(product):
    with pytest.raises(ValueError, match="aware"):
        price_change(product=product, start=datetime(2025, 1, 1), end=T0)


def test_changes_of_many_products_take_one_query(products, django_assert_num_queries):
    for i, p in enumerate(products[:40]):
        snapshots(p, (T0 - H, 100.0), (T0 + H, 100.0 + i))
    unknown = uuid.uuid4()
    with django_assert_num_queries(1):
        changes = price_change_many(
            product_ids=[p.pk for p in products] + [unknown], start=T0, end=T0 + 2 * H
        )
    assert set(changes) == {p.pk for p in products} | {unknown}
    assert changes[products[0].pk] == 0.0
    assert changes[products[12].pk] == 12.0
    assert changes[products[45].pk] is None
    assert changes[unknown] is None


# --- Sparklines ----------------------------------------------------------------------------------


def test_a_sparkline_averages_each_slice_and_leaves_empty_slices_none(product):
    snapshots(
        product,
        (T0 - M, 1.0),  # before the period
        (T0, 10.0),
        (T0 + 30 * M, 20.0),
        (T0 + 2 * H, 40.0),
        (T0 + 3 * H + 59 * M, 50.0),
        (T0 + 4 * H, 1.0),  # at the end: outside
    )
    line = sparkline_many(product_ids=[product.pk], start=T0, end=T0 + 4 * H, points=4)
    assert line == {product.pk: [15.0, None, 40.0, 50.0]}


def test_sparklines_of_many_products_take_one_query(products, django_assert_num_queries):
    for i, p in enumerate(products[:40]):
        snapshots(p, *every(10 * M, count=144, mean=lambda j, i=i: float(i + j // 6)))
    with django_assert_num_queries(1):
        lines = sparkline_many(
            product_ids=[p.pk for p in products], start=T0, end=T0 + timedelta(days=1)
        )
    assert len(lines) == 50
    assert lines[products[2].pk] == [float(2 + hour) for hour in range(24)]
    assert lines[products[45].pk] == [None] * 24


# --- Trends: the product series ------------------------------------------------------------------


def test_hour_buckets_over_a_day_of_minutes_give_24_points(product):
    snapshots(
        product,
        *[(T0 + i * M, 100.0 + i % 60, 90 + i % 60, 110 + i) for i in range(24 * 60)],
    )
    trend = price_trend(
        product=product,
        start=T0,
        end=T0 + timedelta(days=1),
        tz=ZoneInfo("UTC"),
        bucket=Bucket.HOUR,
        include_offers=False,
    )
    assert trend.bucket == Bucket.HOUR
    assert [p.at for p in trend.points] == [T0 + i * H for i in range(24)]
    first = trend.points[0]
    assert first.mean == pytest.approx(129.5)
    assert (first.min, first.max) == (90, 110 + 59)
    assert first.offer_count == 1
    assert trend.point_count == 4 * 24


def test_raw_buckets_are_one_point_per_snapshot(product):
    snapshots(
        product, (T0, 100.0), (T0 + 10 * M, 120.0), (T0 + 10 * M + timedelta(seconds=1), 130.0)
    )
    trend = price_trend(
        product=product, start=T0, end=T0 + H, tz=PRAGUE, bucket=Bucket.RAW, include_offers=False
    )
    assert [p.mean for p in trend.points] == [100.0, 120.0, 130.0]
    assert trend.points[0].at == T0 and trend.points[0].at.tzinfo == PRAGUE


def test_day_buckets_start_at_local_midnight_across_a_dst_change(product):
    # Europe/Prague moves to summer time on 2025-03-30 (a 23-hour day).
    start = datetime(2025, 3, 29, tzinfo=PRAGUE)
    end = datetime(2025, 4, 1, tzinfo=PRAGUE)
    # Arithmetic on aware datetimes of one zone is wall-clock arithmetic: step in UTC.
    hours = int((end.astimezone(UTC) - start.astimezone(UTC)) / H)
    assert hours == 71
    snapshots(product, *every(H, start=start.astimezone(UTC), count=hours, mean=float))
    trend = price_trend(
        product=product, start=start, end=end, tz=PRAGUE, bucket=Bucket.DAY, include_offers=False
    )
    local = [p.at for p in trend.points]
    assert local == [datetime(2025, 3, day, tzinfo=PRAGUE) for day in (29, 30, 31)]
    assert all(at.tzinfo == PRAGUE and at.hour == 0 for at in local)
    assert local[1].utcoffset() == H and local[2].utcoffset() == 2 * H
    # 24, 23 and 24 hourly snapshots: their means average to the middle of each local day.
    assert [p.mean for p in trend.points] == [11.5, 24 + 11.0, 47 + 11.5]


def test_bucket_times_follow_the_zone_passed_not_the_active_one(product):
    snapshots(product, (datetime(2025, 1, 6, 23, 30, tzinfo=UTC), 100.0))
    with timezone.override(ZoneInfo("America/New_York")):
        trend = price_trend(
            product=product,
            start=T0,
            end=T0 + timedelta(days=2),
            tz=PRAGUE,
            bucket=Bucket.DAY,
            include_offers=False,
        )
    # 23:30 UTC on the 6th is 00:30 on the 7th in Prague.
    assert [p.at for p in trend.points] == [datetime(2025, 1, 7, tzinfo=PRAGUE)]


def test_hour_buckets_keep_the_repeated_hour_apart_when_summer_time_ends(product):
    # 2025-10-26 in Prague has 25 hours: 02:00–03:00 happens twice.
    start = datetime(2025, 10, 26, tzinfo=PRAGUE)
    end = datetime(2025, 10, 27, tzinfo=PRAGUE)
    snapshots(product, *every(30 * M, start=start.astimezone(UTC), count=50, mean=float))
    trend = price_trend(
        product=product, start=start, end=end, tz=PRAGUE, bucket=Bucket.HOUR, include_offers=False
    )
    assert len(trend.points) == 25
    # Compared in UTC: within one zone Python compares wall times, and both are 02:00.
    instants = [p.at.astimezone(UTC) for p in trend.points]
    assert instants == [start.astimezone(UTC) + i * H for i in range(25)]
    assert [(p.at.hour, p.at.utcoffset()) for p in trend.points[2:4]] == [(2, 2 * H), (2, H)]
    assert [p.mean for p in trend.points[2:4]] == [4.5, 6.5]


def test_auto_picks_the_finest_bucket_that_fits(product):
    snapshots(product, *every(M, count=24 * 60, mean=lambda i: float(i % 10)))
    hour = price_trend(product=product, start=T0, end=T0 + H, tz=PRAGUE)
    assert hour.bucket == Bucket.RAW and len(hour.points) == 60
    # A day of minutes is 5,760 values: 5-minute buckets, not hours, keep the day's shape.
    day = price_trend(product=product, start=T0, end=T0 + timedelta(days=1), tz=PRAGUE)
    assert day.bucket == Bucket.FIVE_MINUTES and len(day.points) == 288
    assert [p.at.astimezone(UTC) for p in day.points[:2]] == [T0, T0 + 5 * M]
    # Each point averages its five minutes: 0..4, then 5..9.
    assert [p.mean for p in day.points[:2]] == [2.0, 7.0]


def test_a_month_with_offer_lines_is_drawn_in_six_hours(product):
    start = datetime(2025, 3, 1, tzinfo=UTC)  # summer time starts on 30 March in Prague
    end = start + timedelta(days=30)
    minute_snapshots(product, start=start, count=30 * 24 * 60)
    for k in range(8):
        changes = [(start + timedelta(hours=h), 100 + (h + k) % 9) for h in range(0, 720, 6)]
        offer(product, first_seen=start, last_seen=end - M, changes=changes)
    alone = price_trend(product=product, start=start, end=end, tz=PRAGUE, include_offers=False)
    assert alone.bucket == Bucket.HOUR and len(alone.points) == 720
    # Hours with eight offer lines are 8,640 values: six hours, not days.
    month = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert month.bucket == Bucket.SIX_HOURS and not month.offers_truncated
    assert len(month.offers) == 8 and month.point_count <= MAX_TREND_POINTS
    walls = [p.at.replace(tzinfo=None) for p in month.points]
    assert walls[0] == datetime(2025, 3, 1, 0, 0)  # midnight UTC is 01:00 there: 00:00–06:00
    assert {w.hour for w in walls} == {0, 6, 12, 18}  # before and after summer time starts
    assert len(month.points) == 121  # the period ends at 02:00 on 31 March in Prague


def test_a_week_of_minutes_is_drawn_in_quarter_hours(product):
    minute_snapshots(product, start=T0, count=7 * 24 * 60)
    week = price_trend(product=product, start=T0, end=T0 + timedelta(days=7), tz=PRAGUE)
    assert week.bucket == Bucket.FIFTEEN_MINUTES and len(week.points) == 7 * 24 * 4
    # Minutes 0..14 of the first quarter hour: prices 100 + i mod 7.
    assert week.points[0].mean == pytest.approx(sum(100 + i % 7 for i in range(15)) / 15)
    assert (week.points[0].min, week.points[0].max) == (100, 106)


def test_an_empty_period_has_no_points_and_no_change(product):
    trend = price_trend(product=product, start=T0, end=T0 + H, tz=PRAGUE)
    assert (trend.points, trend.offers, trend.change) == ([], [], None)
    assert trend.bucket != Bucket.AUTO
    assert trend.point_count == 0


def test_the_trend_carries_the_change_of_its_period(product):
    snapshots(product, (T0 - H, 100.0), (T0 + H, 90.0))
    trend = price_trend(product=product, start=T0, end=T0 + 2 * H, tz=PRAGUE)
    assert trend.change == -10.0 == price_change(product=product, start=T0, end=T0 + 2 * H)


def test_a_period_must_be_a_forward_period_of_aware_times(product):
    with pytest.raises(ValueError, match="after"):
        price_trend(product=product, start=T0, end=T0, tz=PRAGUE)
    with pytest.raises(ValueError, match="aware"):
        price_trend(product=product, start=T0, end=datetime(2025, 2, 1), tz=PRAGUE)


@pytest.fixture
def year_of_hours(product):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    snapshots(product, *every(H, start=start, count=366 * 24))
    return start, start + timedelta(days=366)


def test_auto_over_a_year_of_hours_uses_days(product, year_of_hours):
    start, end = year_of_hours
    trend = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert trend.bucket == Bucket.DAY
    # Prague is ahead of UTC: the year's last UTC hour is already 2025-01-01 there.
    assert len(trend.points) == 367
    assert trend.point_count <= MAX_TREND_POINTS


@pytest.mark.parametrize("bucket", [Bucket.MINUTE, Bucket.HOUR, Bucket.RAW])
def test_an_explicit_bucket_past_the_cap_is_refused_with_the_one_that_fits(
    product, year_of_hours, bucket
):
    start, end = year_of_hours
    with pytest.raises(TrendTooLarge) as refused:
        price_trend(product=product, start=start, end=end, tz=PRAGUE, bucket=bucket)
    message = str(refused.value)
    assert f"{4 * 366 * 24:,}" in message  # every hourly snapshot, four lines each
    assert "5,000" in message and "day bucket fits" in message
    assert refused.value.fits == Bucket.DAY
    assert isinstance(refused.value, ValueError)


def test_a_trend_takes_a_bounded_number_of_queries(
    product, year_of_hours, django_assert_max_num_queries
):
    start, end = year_of_hours
    for i in range(5):
        offer(product, first_seen=start + i * H, last_seen=end, changes=[(start + i * H, 100 + i)])
    with django_assert_max_num_queries(7):
        trend = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert trend.bucket == Bucket.DAY and len(trend.offers) == 5
    assert trend.point_count == 4 * 367 + 5 * 367


@pytest.mark.slow
def test_a_year_of_minute_snapshots_is_answered_within_the_cap(
    product, django_assert_max_num_queries
):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=366)
    minute_snapshots(product, start=start, count=366 * 24 * 60)
    assert ProductSnapshot.objects.filter(taken_at__gte=end - M).get().taken_at == end - M
    # Three long-lived offers changing price daily, and one carried in from the year before.
    for k in range(3):
        changes = [(start + timedelta(days=d, hours=k), 100 + d % 5 + k) for d in range(366)]
        offer(product, first_seen=start, last_seen=end - M, changes=changes)
    offer(
        product,
        first_seen=start - timedelta(days=3),
        last_seen=end - M,
        changes=[(start - timedelta(days=3), 77)],
    )
    with django_assert_max_num_queries(7):
        trend = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert trend.bucket == Bucket.DAY
    assert trend.point_count <= MAX_TREND_POINTS
    assert len(trend.points) == 367 and len(trend.offers) == 4
    assert not trend.offers_truncated
    with pytest.raises(TrendTooLarge, match="day bucket fits"):
        price_trend(product=product, start=start, end=end, tz=PRAGUE, bucket=Bucket.MINUTE)


# --- Trends: per-offer lines ---------------------------------------------------------------------


def test_an_offer_is_carried_forward_until_it_was_last_seen(product):
    snapshots(product, *every(30 * M, start=T0 + 9 * H, count=11))  # 09:00 … 14:00
    seen = offer(
        product,
        first_seen=T0 + 10 * H,
        last_seen=T0 + 12 * H + 30 * M,
        changes=[(T0 + 10 * H, 100)],
    )
    trend = price_trend(
        product=product, start=T0 + 9 * H, end=T0 + 15 * H, tz=ZoneInfo("UTC"), bucket=Bucket.HOUR
    )
    assert trend.offers == [
        OfferSeries(seen.offer_id, [(T0 + h * H, 100) for h in (10, 11, 12)]),
    ]


def test_an_offers_price_from_before_the_period_is_carried_into_it(product):
    snapshots(product, *every(H, start=T0, count=6))
    carried = offer(
        product,
        first_seen=T0 - timedelta(days=2),
        last_seen=T0 + 5 * H,
        changes=[(T0 - timedelta(days=2), 70), (T0 - H, 80), (T0 + 3 * H, 90)],
    )
    trend = price_trend(product=product, start=T0, end=T0 + 6 * H, tz=PRAGUE, bucket=Bucket.HOUR)
    (series,) = trend.offers
    assert series.offer_id == carried.offer_id
    assert [price for _, price in series.points] == [80, 80, 80, 90, 90, 90]
    assert all(at.tzinfo == PRAGUE for at, _ in series.points)


def test_only_offers_seen_in_the_period_have_lines(product):
    snapshots(product, *every(H, start=T0 - timedelta(days=1), count=72))
    start, end = T0, T0 + timedelta(days=1)
    gone = offer(product, first_seen=T0 - 5 * H, last_seen=T0 - H, changes=[(T0 - 5 * H, 1)])
    later = offer(product, first_seen=end, last_seen=end + H, changes=[(end, 2)])
    inside = offer(product, first_seen=T0 + H, last_seen=T0 + 2 * H, changes=[(T0 + H, 3)])
    through = offer(product, first_seen=T0 - H, last_seen=end + H, changes=[(T0 - H, 4)])
    trend = price_trend(product=product, start=start, end=end, tz=PRAGUE, bucket=Bucket.HOUR)
    lines = {s.offer_id: [p for _, p in s.points] for s in trend.offers}
    assert gone.offer_id not in lines and later.offer_id not in lines
    assert lines == {through.offer_id: [4] * 24, inside.offer_id: [3, 3]}
    assert trend.point_count == 4 * 24 + 24 + 2


def test_an_offers_line_takes_the_last_price_of_each_bucket(product):
    snapshots(product, *every(10 * M, start=T0, count=18))
    changing = offer(
        product,
        first_seen=T0,
        last_seen=T0 + 2 * H + 50 * M,
        changes=[(T0, 100), (T0 + 20 * M, 110), (T0 + 50 * M, 105), (T0 + 2 * H, 99)],
    )
    trend = price_trend(product=product, start=T0, end=T0 + 3 * H, tz=PRAGUE, bucket=Bucket.HOUR)
    assert trend.offers == [
        OfferSeries(changing.offer_id, [(T0, 105), (T0 + H, 105), (T0 + 2 * H, 99)])
    ]


def test_auto_drops_the_offers_with_fewest_points_when_even_days_do_not_fit(product):
    start, end = T0, T0 + timedelta(days=30)
    snapshots(product, *every(H, start=start, count=30 * 24), offers=210)
    # At day buckets: 120 product values, 150 offers × 30 days and 60 offers × 11 days = 5,280.
    long = [
        offer(product, first_seen=start, last_seen=end - H, changes=[(start, 100 + i)])
        for i in range(150)
    ]
    short = [
        offer(product, first_seen=start, last_seen=start + timedelta(days=10), changes=[(start, 1)])
        for _ in range(60)
    ]
    utc = ZoneInfo("UTC")
    trend = price_trend(product=product, start=start, end=end, tz=utc)
    assert trend.bucket == Bucket.DAY and trend.offers_truncated
    kept = {s.offer_id for s in trend.offers}
    # The longest lines first (4,500 points), then as many short ones as fit in the 380 left.
    assert kept >= {o.offer_id for o in long}
    assert len(kept & {o.offer_id for o in short}) == 380 // 11
    assert trend.point_count == 120 + 4500 + 34 * 11 <= MAX_TREND_POINTS
    with pytest.raises(TrendTooLarge, match="auto bucket"):
        price_trend(product=product, start=start, end=end, tz=utc, bucket=Bucket.DAY)


def test_more_offers_than_the_cap_keep_the_longest_present(product, django_assert_max_num_queries):
    start, end = T0, T0 + timedelta(days=3)
    snapshots(product, *every(H, start=start, count=72), offers=100)
    # 100 offers present all three days, 5,000 present for an hour: 5,100 lines of 1–3 points.
    rows = [
        Offer(
            product=product,
            offer_id=uuid.uuid4(),
            price=100 + i,
            items_in_stock=1,
            is_current=False,
            first_seen_at=start + (0 if i < 100 else i % 72) * H,
            last_seen_at=end - H if i < 100 else start + (i % 72) * H,
        )
        for i in range(5100)
    ]
    Offer.objects.bulk_create(rows, batch_size=1000)
    OfferObservation.objects.bulk_create(
        (
            OfferObservation(
                offer=row,
                product=product,
                observed_at=row.first_seen_at,
                price=row.price,
                items_in_stock=1,
            )
            for row in rows
        ),
        batch_size=1000,
    )
    utc = ZoneInfo("UTC")
    with django_assert_max_num_queries(6):
        trend = price_trend(product=product, start=start, end=end, tz=utc)
    assert trend.bucket == Bucket.DAY and trend.offers_truncated
    assert trend.point_count == MAX_TREND_POINTS  # 12 + 100 × 3 + 4,688 × 1
    lines = {s.offer_id: len(s.points) for s in trend.offers}
    assert all(lines[row.offer_id] == 3 for row in rows[:100])
    with pytest.raises(TrendTooLarge, match="at least"):
        price_trend(product=product, start=start, end=end, tz=utc, bucket=Bucket.DAY)


def test_without_offer_lines_the_trend_has_none(product):
    snapshots(product, *every(H, start=T0, count=3))
    offer(product, first_seen=T0, last_seen=T0 + 2 * H, changes=[(T0, 5)])
    trend = price_trend(product=product, start=T0, end=T0 + 3 * H, tz=PRAGUE, include_offers=False)
    assert trend.offers == [] and trend.point_count == 12


# --- Sync runs -----------------------------------------------------------------------------------


def test_the_latest_sync_run_is_the_last_started(db):
    assert latest_sync_run() is None
    SyncRun.objects.create(started_at=T0 + H)
    latest = SyncRun.objects.create(started_at=T0 + 2 * H)
    SyncRun.objects.create(started_at=T0)
    assert latest_sync_run() == latest


# --- End to end: what real syncs against the simulator leave behind ------------------------------


def test_statistics_and_trend_of_real_syncs(registered_product, offers_simulator):
    offers_simulator.set_faults(tick=0.05)  # the world moves between syncs
    started = timezone.now()
    for _ in range(4):
        assert offers_sync(product_id=registered_product.pk).status == SyncStatus.SYNCED
    ended = timezone.now() + timedelta(seconds=1)

    current = list(registered_product.offers.current())
    stats = product_stats(product=registered_product)
    assert stats.stats == offer_statistics((o.price, o.items_in_stock) for o in current)
    assert stats.as_of == registered_product.snapshots.latest().taken_at

    trend = price_trend(
        product=registered_product, start=started, end=ended, tz=PRAGUE, bucket=Bucket.RAW
    )
    assert len(trend.points) == 4
    assert trend.points[-1].mean == stats.stats.mean_price
    # The last point of each current offer's line is its current price.
    last_prices = {s.offer_id: s.points[-1] for s in trend.offers}
    for row in current:
        assert last_prices[row.offer_id] == (trend.points[-1].at, row.price)
    assert trend.change == percentage_change(trend.points[0].mean, trend.points[-1].mean)
