"""Properties of the statistics formulas (pricing.statistics), checked by hypothesis over
arbitrary sets of offers and values, plus the edge cases named in DESIGN §3."""

import statistics

import pytest
from django.db.models import FloatField, Value
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pricing.statistics import OfferStatistics, offer_statistics, percentage_change

# Prices up to 2**53: past that a float cannot hold every integer, and a mean stored as a float
# could round below the smallest integer price. Real prices are far below.
prices = st.integers(min_value=0, max_value=2**53)
stocks = st.integers(min_value=0, max_value=2**31 - 1)
offers = st.lists(st.tuples(prices, stocks), min_size=1, max_size=60)


@given(offers)
def test_the_median_and_the_mean_lie_between_min_and_max(pairs):
    stats = offer_statistics(pairs)
    assert stats.min_price <= stats.median_price <= stats.max_price
    assert stats.min_price <= stats.mean_price <= stats.max_price


@given(offers)
@example([(100, 0), (200, 0)])
def test_the_weighted_mean_lies_between_min_and_max_and_is_none_only_without_stock(pairs):
    stats = offer_statistics(pairs)
    assert (stats.weighted_mean_price is None) == (stats.total_stock == 0)
    if stats.weighted_mean_price is not None:
        assert stats.min_price <= stats.weighted_mean_price <= stats.max_price


@given(offers)
def test_counts_extremes_and_median_match_their_definitions(pairs):
    stats = offer_statistics(pairs)
    price_list = [price for price, _ in pairs]
    assert stats.offer_count == len(pairs)
    assert stats.total_stock == sum(stock for _, stock in pairs)
    assert (stats.min_price, stats.max_price) == (min(price_list), max(price_list))
    assert stats.median_price == statistics.median(price_list)


@given(st.lists(st.tuples(prices, stocks), min_size=1, max_size=60), st.randoms())
def test_the_order_of_the_offers_does_not_matter(pairs, random):
    shuffled = list(pairs)
    random.shuffle(shuffled)
    assert offer_statistics(shuffled) == offer_statistics(pairs)


@given(prices, st.lists(stocks, min_size=1, max_size=20))
def test_equal_prices_give_that_price_everywhere(price, stock_list):
    stats = offer_statistics((price, stock) for stock in stock_list)
    assert stats.min_price == stats.max_price == price
    assert stats.mean_price == stats.median_price == price
    assert stats.weighted_mean_price in (None, price)


def test_no_offers_give_zero_counts_and_no_figures():
    assert offer_statistics([]) == OfferStatistics(0, 0, None, None, None, None, None)


def test_a_single_offer_is_its_own_statistics():
    assert offer_statistics([(250, 4)]) == OfferStatistics(1, 4, 250, 250, 250.0, 250.0, 250.0)


def test_the_weighted_mean_weighs_by_stock():
    stats = offer_statistics([(100, 1), (200, 3), (1000, 0)])
    assert stats.weighted_mean_price == 175.0
    assert stats.mean_price == 1300 / 3


# --- Percentage change (computed in the database) ------------------------------------------------
# The database evaluates the one expression both the figures and the orderings use; hypothesis
# varies what it is given. Means of whole-unit prices are 0 or at least 1/offers: a start of
# 1e-300 would overflow a float on PostgreSQL (and an end of 5e-324 underflow), and cannot occur.

means = st.one_of(st.just(0.0), st.floats(min_value=1e-4, max_value=1e12))
DATABASE_EXAMPLES = settings(
    max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def change_in_db(user):
    """change_in_db(start, end): percentage_change evaluated by the database."""
    one_row = type(user).objects.filter(pk=user.pk)

    def evaluate(start, end):
        value = (
            one_row.annotate(
                change=percentage_change(
                    Value(start, output_field=FloatField()), Value(end, output_field=FloatField())
                )
            )
            .values_list("change", flat=True)
            .get()
        )
        assert value is None or isinstance(value, float)
        return value

    return evaluate


@pytest.mark.django_db
@DATABASE_EXAMPLES
@given(means.filter(lambda v: v != 0))
def test_an_unchanged_value_is_zero_not_none(change_in_db, value):
    assert change_in_db(value, value) == 0.0


@pytest.mark.django_db
@DATABASE_EXAMPLES
@given(st.one_of(st.none(), means), st.one_of(st.none(), means))
def test_the_change_is_none_exactly_without_start_end_or_with_a_zero_start(
    change_in_db, start, end
):
    undefined = start is None or end is None or start == 0
    assert (change_in_db(start, end) is None) == undefined


@pytest.mark.django_db
@DATABASE_EXAMPLES
@given(st.floats(min_value=0.01, max_value=1e9), means.filter(lambda v: v <= 1e9))
def test_a_positive_start_gives_the_sign_of_the_move_with_two_decimals(change_in_db, start, end):
    change = change_in_db(start, end)
    assert change == round(change, 2)
    assert abs(change - (end - start) / start * 100) <= 0.005 + 1e-9 * abs(change)
    if end > start * 1.0001:
        assert change > 0
    elif end < start * 0.9999:
        assert change < 0


@pytest.mark.django_db
def test_examples_of_the_change(change_in_db):
    assert change_in_db(300, 400) == 33.33
    assert change_in_db(200, 100) == -50.0
    assert change_in_db(0, 100) is None
    assert change_in_db(100, None) is None
