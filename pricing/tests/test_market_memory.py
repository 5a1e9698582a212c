"""A product's long memory (pricing.market.memory): time-weighted means that weigh each price by
how long it held, extremes of the cheapest price with the day first reached, volatility and
change counts, and the badges, on hand-written histories stored as the sync stores them."""

import math
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from pricing import services
from pricing.market.memory import MemoryWindow, PriceExtreme, price_memory
from pricing.offers_client import OfferData
from pricing.rollups import rollups_rebuild

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday, midnight UTC
H = timedelta(hours=1)
D = timedelta(days=1)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))
DEAR = 999  # offer B: the dearest offer, never the cheapest


def sync(product, at: datetime, *offers) -> None:
    """One successful sync at `at`: offers as (id, price, stock)."""
    services.offers_store(product=product, offers=[OfferData(*o) for o in offers], at=at)


def cheapest(product, at: datetime, price: int) -> None:
    """A sync where offer A is the cheapest at `price` and B is far dearer."""
    sync(product, at, (A, price, 5), (B, DEAR, 5))


def memory(product, window=MemoryWindow.DAY, *, now):
    return price_memory(product=product, window=window, now=now)


# --- Time-weighted means ---------------------------------------------------------------------


def test_a_price_that_held_three_hours_of_a_four_hour_history_weighs_three_quarters(product):
    now = T0 + 10 * H
    sync(product, now - 4 * H, (A, 100, 5), (B, 300, 5))  # mean 200, cheapest 100
    sync(product, now - 1 * H, (A, 200, 5), (B, 300, 5))  # mean 250, cheapest 200
    result = memory(product, now=now)
    assert result.time_weighted_cheapest == pytest.approx((3 * 100 + 1 * 200) / 4)
    assert result.time_weighted_mean == pytest.approx((3 * 200 + 1 * 250) / 4)
    # Each sync counts once in the plain mean, whatever it held.
    assert result.snapshot_mean == pytest.approx(225)


def test_an_interval_begun_before_the_window_counts_only_from_the_windows_start(product):
    now = T0 + 2 * D + 30 * timedelta(minutes=1)  # mid-hour: the window starts at its hour
    cheapest(product, now - 30 * H, 50)
    cheapest(product, now - 20 * H, 100)
    result = memory(product, now=now)
    start = T0 + D
    assert result.start == start and result.end == now
    held_50 = (now - 20 * H - start).total_seconds()  # 50 held from the start of the window
    held_100 = (20 * H).total_seconds()  # then 100, until now
    expected = (held_50 * 50 + held_100 * 100) / (held_50 + held_100)
    assert result.time_weighted_cheapest == pytest.approx(expected)
    assert result.snapshot_mean == pytest.approx((100 + DEAR) / 2)
    assert result.lowest == result.highest == PriceExtreme(100, date(2026, 3, 3))
    assert result.lowest_ever == PriceExtreme(50, date(2026, 3, 2))


def test_time_without_offers_is_left_out_of_the_time_weighted_means(product):
    now = T0 + 8 * H
    cheapest(product, now - 8 * H, 100)  # held 2 hours
    sync(product, now - 6 * H)  # no offers for 4 hours: nothing held
    cheapest(product, now - 2 * H, 400)  # held 2 hours, until now
    result = memory(product, now=now)
    assert result.time_weighted_cheapest == pytest.approx(250)
    assert result.time_weighted_mean == pytest.approx(((100 + DEAR) + (400 + DEAR)) / 4)


def test_rebuilt_rollups_give_the_same_memory(product):
    now = T0 + 3 * D + 5 * H
    for hours, price in enumerate([120, 80, 95, None, 130, 70, 150, 90]):
        at = T0 + hours * 9 * H
        sync(product, at) if price is None else cheapest(product, at, price)
    before = {window: memory(product, window, now=now) for window in MemoryWindow}
    rollups_rebuild()
    assert {window: memory(product, window, now=now) for window in MemoryWindow} == before


# --- Extremes and their days -----------------------------------------------------------------


@pytest.fixture
def forty_days(product):
    """Forty days of history: the all-time extremes on day 2, later ones in the last week."""
    prices = {
        T0 + 2 * D + 6 * H: 50,  # the lowest ever
        T0 + 2 * D + 18 * H: 300,  # the highest ever
        T0 + 20 * D: 110,
        T0 + 33 * D + 10 * H: 60,  # the week's first day, before the window's start hour
        T0 + 33 * D + 15 * H: 90,  # the week's lowest, first reached here
        T0 + 36 * D + 12 * H: 140,  # the week's highest
        T0 + 38 * D + 8 * H: 90,  # the lowest again, later
        T0 + 40 * D + 9 * H: 100,  # the current price
    }
    cheapest(product, T0, 100)
    for at, price in prices.items():
        cheapest(product, at, price)
    return product


def test_extremes_are_of_the_cheapest_price_with_the_day_first_reached(forty_days):
    now = T0 + 40 * D + 13 * H + 30 * timedelta(minutes=1)
    week = memory(forty_days, MemoryWindow.WEEK, now=now)
    assert week.start == T0 + 33 * D + 13 * H  # the hour of now − 7 days
    assert week.lowest == PriceExtreme(90, date(2026, 4, 4))  # T0 + 33 days
    # The highest cheapest price, not the dearest offer's (999).
    assert week.highest == PriceExtreme(140, date(2026, 4, 7))
    assert week.current_cheapest == 100
    month = memory(forty_days, MemoryWindow.MONTH, now=now)
    assert month.lowest == PriceExtreme(60, date(2026, 4, 4))
    assert month.highest == PriceExtreme(140, date(2026, 4, 7))
    year = memory(forty_days, MemoryWindow.YEAR, now=now)
    assert year.lowest == year.lowest_ever == PriceExtreme(50, date(2026, 3, 4))
    assert year.highest == year.highest_ever == PriceExtreme(300, date(2026, 3, 4))
    assert week.lowest_ever == year.lowest_ever and week.highest_ever == year.highest_ever
    assert week.history_since == T0


def test_a_window_without_a_snapshot_with_offers_has_no_figures_but_keeps_the_history(product):
    cheapest(product, T0, 100)
    cheapest(product, T0 + H, 80)
    later = memory(product, MemoryWindow.DAY, now=T0 + 10 * D)
    assert later.lowest is later.highest is later.time_weighted_mean is None
    assert later.snapshot_mean is later.mean_stddev is later.time_weighted_cheapest is None
    assert later.price_changes == 0
    assert later.lowest_ever == PriceExtreme(80, date(2026, 3, 2))
    assert later.current_cheapest == 80 and later.history_since == T0


def test_a_product_never_synced_has_no_memory(product):
    result = memory(product, MemoryWindow.YEAR, now=T0)
    assert result.history_since is result.current_cheapest is result.lowest_ever is None
    assert result.time_weighted_mean is None and result.price_changes == 0
    assert not result.is_lowest_ever and not result.is_lowest_in_90_days


def test_naive_now_is_refused(product):
    with pytest.raises(ValueError, match="aware"):
        memory(product, now=datetime(2026, 3, 2))


# --- Volatility and changes ------------------------------------------------------------------


def test_stddev_of_the_snapshot_means_and_the_count_of_price_changes(product):
    now = T0 + 6 * H
    sync(product, T0 + 1 * H, (A, 100, 5))  # first sync: nothing to compare to
    sync(product, T0 + 2 * H, (A, 200, 5), (B, 200, 1))  # A rises; B appears (no change)
    sync(product, T0 + 3 * H, (A, 100, 5), (B, 100, 1))  # A and B drop
    sync(product, T0 + 4 * H, (A, 100, 4), (C, 300, 1))  # stock only; B vanishes; C appears
    sync(product, T0 + 5 * H, (A, 100, 4), (B, 300, 1), (C, 300, 1))  # B returns dearer
    result = memory(product, now=now)
    means = [100, 200, 100, 200, 700 / 3]
    mu = sum(means) / len(means)
    assert result.mean_stddev == pytest.approx(
        math.sqrt(sum((m - mu) ** 2 for m in means) / len(means))
    )
    assert result.snapshot_mean == pytest.approx(mu)
    # A up, A down, B down, B back at a higher price than it left at.
    assert result.price_changes == 4


def test_a_constant_price_has_no_spread(product):
    for hour in range(6):
        cheapest(product, T0 + hour * H + timedelta(seconds=17 * hour), 333)
    result = memory(product, now=T0 + 7 * H)
    assert result.mean_stddev == 0.0 and result.price_changes == 0
    assert result.time_weighted_mean == pytest.approx((333 + DEAR) / 2)


# --- Badges ----------------------------------------------------------------------------------


def daily(product, prices, *, start=T0):
    for day, price in enumerate(prices):
        cheapest(product, start + day * D + 12 * H, price)


def test_a_new_lowest_price_after_ninety_days_earns_both_badges(product):
    daily(product, [150 - (day % 5) for day in range(100)] + [140])
    result = memory(product, now=T0 + 100 * D + 13 * H)
    assert result.current_cheapest == 140
    assert result.is_lowest_in_90_days and result.is_lowest_ever


def test_matching_the_lowest_counts_as_lowest(product):
    daily(product, [140] + [150] * 99 + [140])
    result = memory(product, now=T0 + 100 * D + 13 * H)
    assert result.is_lowest_ever and result.is_lowest_in_90_days


def test_a_low_of_ninety_days_that_is_not_the_lowest_ever(product):
    daily(product, [100] + [150] * 99 + [140])
    result = memory(product, now=T0 + 100 * D + 13 * H)
    assert result.is_lowest_in_90_days and not result.is_lowest_ever


def test_a_price_above_a_recent_low_earns_no_badge(product):
    daily(product, [150] * 95 + [120, 150, 150, 150, 150, 140])
    result = memory(product, now=T0 + 100 * D + 13 * H)
    assert not result.is_lowest_in_90_days and not result.is_lowest_ever


def test_a_history_shorter_than_ninety_days_earns_no_ninety_day_badge(product):
    daily(product, [150] * 30 + [100])
    result = memory(product, now=T0 + 30 * D + 13 * H)
    assert result.is_lowest_ever and not result.is_lowest_in_90_days


def test_a_history_shorter_than_a_day_earns_no_badge(product):
    cheapest(product, T0, 150)
    cheapest(product, T0 + 6 * H, 100)
    result = memory(product, now=T0 + 7 * H)
    assert result.lowest == PriceExtreme(100, date(2026, 3, 2))
    assert not result.is_lowest_ever and not result.is_lowest_in_90_days


# --- Cost ------------------------------------------------------------------------------------


def test_forty_days_of_minute_history_take_two_queries(
    product, minute_history, django_assert_num_queries
):
    now = datetime.now(UTC).replace(microsecond=0)
    minute_history(product, start=now - 40 * D, count=40 * 24 * 60)
    with django_assert_num_queries(2):
        result = memory(product, MemoryWindow.QUARTER, now=now)
    # Prices 100 + i mod 7, a minute each: every mean comes out near 103.
    assert result.lowest.price == 100 and result.highest.price == 106
    assert result.time_weighted_mean == pytest.approx(103, abs=0.01)
    assert result.snapshot_mean == pytest.approx(103, abs=0.01)
    assert result.mean_stddev == pytest.approx(2, abs=0.01)  # of 0..6, uniform
    assert result.history_since == now - 40 * D
