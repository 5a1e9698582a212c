"""The read side's current figures: statistics, current offers, percentage changes, sparklines,
sync states, orderings and summaries of a catalogue, sync runs.

Most tests write snapshots directly (pricing.tests.history) for exact control of times and
prices; the sync's own writes are covered by test_sync.py. Trends are in test_trends.py.
"""

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest

from pricing.offers_client import OfferData
from pricing.selectors import (
    CurrentStatistics,
    current_offers,
    history_start,
    latest_sync_run,
    price_change_many,
    product_stats,
    product_stats_many,
    sparkline_many,
)
from pricing.services import offers_store
from pricing.statistics import OfferStatistics, offer_statistics
from pricing.tests.history import T0, H, M, every, snapshots

pytestmark = pytest.mark.django_db


def figures(current: CurrentStatistics) -> OfferStatistics:
    """The statistics part of current figures, to compare with the formulas' answer."""
    fields = {f.name for f in dataclasses.fields(OfferStatistics)}
    return OfferStatistics(**{name: getattr(current, name) for name in fields})


# --- Current statistics --------------------------------------------------------------------------


def test_a_never_synced_product_has_no_figures_not_zeros(product):
    current = product_stats(product=product)
    assert current == CurrentStatistics(None, None, None, None, None, None, None, as_of=None)


def test_current_statistics_are_the_latest_snapshots(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 50, 1)], at=T0)
    offers_store(
        product=product,
        offers=[OfferData(uuid.uuid4(), 100, 1), OfferData(uuid.uuid4(), 300, 3)],
        at=T0 + H,
    )
    current = product_stats(product=product)
    assert current.as_of == T0 + H
    assert figures(current) == offer_statistics([(100, 1), (300, 3)])
    assert current.weighted_mean_price == 250.0


def test_a_sync_without_offers_gives_none_not_zero(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 50, 1)], at=T0)
    offers_store(product=product, offers=[], at=T0 + H)
    stats = product_stats(product=product)
    assert (stats.offer_count, stats.total_stock) == (0, 0)
    assert stats.min_price is stats.max_price is stats.mean_price is None
    assert stats.median_price is stats.weighted_mean_price is None


def test_zero_total_stock_leaves_only_the_weighted_mean_undefined(product):
    offers_store(
        product=product,
        offers=[OfferData(uuid.uuid4(), 100, 0), OfferData(uuid.uuid4(), 200, 0)],
        at=T0,
    )
    stats = product_stats(product=product)
    assert stats.total_stock == 0
    assert stats.weighted_mean_price is None
    assert (stats.min_price, stats.max_price, stats.mean_price) == (100, 200, 150.0)


def test_a_single_offer_is_its_own_min_max_mean_median(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 1234, 7)], at=T0)
    stats = product_stats(product=product)
    assert (stats.offer_count, stats.total_stock) == (1, 7)
    assert stats.min_price == stats.max_price == 1234
    assert stats.mean_price == stats.median_price == stats.weighted_mean_price == 1234.0


def test_equal_prices_give_equal_figures(product):
    offers_store(product=product, offers=[OfferData(uuid.uuid4(), 99, s) for s in (1, 5, 0)], at=T0)
    stats = product_stats(product=product)
    assert stats.min_price == stats.max_price == 99
    assert stats.mean_price == stats.median_price == stats.weighted_mean_price == 99.0


def test_statistics_of_many_products_take_one_query(products, django_assert_num_queries):
    for i, p in enumerate(products[:40]):
        snapshots(p, (T0, 10.0), (T0 + H, 100.0 + i))
    unknown = uuid.uuid4()
    with django_assert_num_queries(1):
        answer = product_stats_many(product_ids=[p.pk for p in products] + [unknown])
    assert set(answer) == {p.pk for p in products} | {unknown}
    assert answer[products[3].pk].mean_price == 103.0
    assert answer[products[3].pk].as_of == T0 + H
    assert answer[products[45].pk].as_of is None
    assert answer[unknown].offer_count is None


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


def price_change(*, product, start, end):
    return price_change_many(product_ids=[product.pk], start=start, end=end)[product.pk]


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


def test_a_sparkline_of_whole_hours_from_rollups_is_the_one_from_snapshots(product):
    snapshots(product, *every(7 * M, count=200, mean=lambda i: 100.0 + i % 11))
    hours = sparkline_many(product_ids=[product.pk], start=T0 + H, end=T0 + 13 * H, points=6)
    # A microsecond off the hour: the same slices (no snapshot there), read from snapshots.
    raw = sparkline_many(
        product_ids=[product.pk],
        start=T0 + H - timedelta(microseconds=1),
        end=T0 + 13 * H - timedelta(microseconds=1),
        points=6,
    )
    assert hours[product.pk] == pytest.approx(raw[product.pk], rel=1e-12)
    assert None not in hours[product.pk]


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


# --- Sync runs -----------------------------------------------------------------------------------


def test_the_latest_sync_run_is_the_last_started(make_sync_run):
    assert latest_sync_run(now=T0) is None
    make_sync_run(started_at=T0 + H)
    make_sync_run(started_at=T0 + 2 * H, products_total=3)
    make_sync_run(started_at=T0)
    latest = latest_sync_run(now=T0 + 2 * H)
    assert (latest.started_at, latest.products_total) == (T0 + 2 * H, 3)
