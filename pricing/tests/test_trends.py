"""The trend engine (pricing.trends): bucketing in the database, the cap on values, per-offer
lines, and what real syncs against the simulator leave behind.

Most tests write snapshots, offers and observations directly (pricing.tests.history) for exact
control of times and prices.
"""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from pricing.models import Offer, OfferObservation, ProductSnapshot
from pricing.rollups import rollups_rebuild
from pricing.selectors import (
    MAX_TREND_VALUES,
    Bucket,
    OfferSeries,
    TrendTooLarge,
    price_change_many,
    price_trend,
    product_stats,
)
from pricing.services import SyncResult, offers_sync
from pricing.statistics import offer_statistics
from pricing.testing import minute_snapshots
from pricing.tests.history import PRAGUE, T0, H, M, every, offer, snapshots

pytestmark = pytest.mark.django_db


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
    assert trend.value_count == 4 * 24


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
    assert len(month.offers) == 8 and month.value_count <= MAX_TREND_VALUES
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
    assert trend.value_count == 0


def test_the_trend_carries_the_change_of_its_period(product):
    snapshots(product, (T0 - H, 100.0), (T0 + H, 90.0))
    trend = price_trend(product=product, start=T0, end=T0 + 2 * H, tz=PRAGUE)
    changes = price_change_many(product_ids=[product.pk], start=T0, end=T0 + 2 * H)
    assert trend.change == -10.0 == changes[product.pk]


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
    assert trend.value_count <= MAX_TREND_VALUES


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
    assert trend.value_count == 4 * 367 + 5 * 367


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
    assert trend.value_count <= MAX_TREND_VALUES
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
    assert trend.value_count == 4 * 24 + 24 + 2


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
    assert trend.value_count == 120 + 4500 + 34 * 11 <= MAX_TREND_VALUES
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
    rollups_rebuild(product_ids=[product.pk])
    utc = ZoneInfo("UTC")
    with django_assert_max_num_queries(7):
        trend = price_trend(product=product, start=start, end=end, tz=utc)
    assert trend.bucket == Bucket.DAY and trend.offers_truncated
    assert trend.value_count == MAX_TREND_VALUES  # 12 + 100 × 3 + 4,688 × 1
    lines = {s.offer_id: len(s.points) for s in trend.offers}
    assert all(lines[row.offer_id] == 3 for row in rows[:100])
    with pytest.raises(TrendTooLarge, match="at least"):
        price_trend(product=product, start=start, end=end, tz=utc, bucket=Bucket.DAY)


def test_without_offer_lines_the_trend_has_none(product):
    snapshots(product, *every(H, start=T0, count=3))
    offer(product, first_seen=T0, last_seen=T0 + 2 * H, changes=[(T0, 5)])
    trend = price_trend(product=product, start=T0, end=T0 + 3 * H, tz=PRAGUE, include_offers=False)
    assert trend.offers == [] and trend.value_count == 12


# --- End to end: what real syncs against the simulator leave behind ------------------------------


def test_statistics_and_trend_of_real_syncs(registered_product, offers_simulator):
    offers_simulator.set_faults(tick=0.05)  # the world moves between syncs
    started = timezone.now()
    for _ in range(4):
        assert offers_sync(product_id=registered_product.pk).result == SyncResult.SYNCED
    ended = timezone.now() + timedelta(seconds=1)

    current = list(registered_product.offers.current())
    stats = product_stats(product=registered_product)
    expected = offer_statistics((o.price, o.items_in_stock) for o in current)
    assert stats.mean_price == expected.mean_price and stats.offer_count == expected.offer_count
    assert stats.as_of == registered_product.snapshots.latest().taken_at

    trend = price_trend(
        product=registered_product, start=started, end=ended, tz=PRAGUE, bucket=Bucket.RAW
    )
    assert len(trend.points) == 4
    assert trend.points[-1].mean == stats.mean_price
    # The last point of each current offer's line is its current price.
    last_prices = {s.offer_id: s.points[-1] for s in trend.offers}
    for row in current:
        assert last_prices[row.offer_id] == (trend.points[-1].at, row.price)
    first, last = trend.points[0].mean, trend.points[-1].mean
    if first and last is not None:
        assert trend.change == round((last - first) / first * 100, 2)
    else:  # about one simulated product in ten has no offers
        assert trend.change is None


# --- Histories longer than days can draw ---------------------------------------------------------


def test_all_of_four_years_is_drawn_in_weeks(product):
    start = datetime(2022, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=4 * 365 + 1)
    # A snapshot every 6 hours: 1,462 days would be 5,848 values, over the cap.
    minute_snapshots(product, start=start, count=(end - start) // (6 * H), every=6 * H)
    offer(product, first_seen=start, last_seen=end - H, changes=[(start, 100), (end - 9 * H, 90)])
    trend = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert trend.bucket is Bucket.WEEK and not trend.offers_truncated
    assert 208 <= len(trend.points) <= 210 and trend.value_count <= MAX_TREND_VALUES
    # Weeks start on Monday at local midnight, and every figure is the week's.
    assert all(p.at.weekday() == 0 and (p.at.hour, p.at.minute) == (0, 0) for p in trend.points)
    assert {p.min for p in trend.points[1:-1]} == {100} and {p.max for p in trend.points} == {106}
    (line,) = trend.offers
    assert [price for _, price in line.points[:2]] == [100, 100] and line.points[-1][1] == 90
    with pytest.raises(TrendTooLarge, match="week bucket fits"):
        price_trend(product=product, start=start, end=end, tz=PRAGUE, bucket=Bucket.DAY)


def test_decades_of_history_are_drawn_in_months(product):
    start = datetime(1996, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 1, tzinfo=UTC)
    # A snapshot every 5 days: too many for days (2,192) and weeks (1,566), not for months.
    minute_snapshots(
        product, start=start, count=(end - start) // timedelta(days=5), every=timedelta(days=5)
    )
    trend = price_trend(product=product, start=start, end=end, tz=PRAGUE)
    assert trend.bucket is Bucket.MONTH and len(trend.points) == 360
    assert all(p.at.day == 1 and p.at.hour == 0 for p in trend.points)
