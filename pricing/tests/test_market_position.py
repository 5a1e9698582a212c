"""The market position (pricing.market.position): rank with ties, indexes, undercuts and
offers below the MAP, against the latest sync; undefined cases; the catalogue's orderings by
them; a constant number of queries."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pricing import selectors, services
from pricing.offers_client import OfferData
from pricing.selectors import PricePosition, ProductOrder
from products.models import Product
from products.services import product_create

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def product(owner, name="P", **prices):
    return product_create(owner=owner, name=name, **prices)


def sync(product, *prices, at=T0):
    offers = [OfferData(uuid.UUID(int=i + 1), price, 5) for i, price in enumerate(prices)]
    services.offers_store(product=product, offers=offers, at=at)


def test_rank_counts_the_offers_strictly_cheaper_and_ties_share_my_rank(user):
    mine = product(user, my_price=100, map_price=90)
    sync(mine, 80, 95, 100, 100, 120)
    position = selectors.price_position(product=mine)
    assert (position.rank, position.rank_of, position.tied_count) == (3, 6, 2)
    assert (position.undercut_count, position.undercut_max) == (2, 20)
    assert position.undercut_mean == pytest.approx(12.5)  # (20 + 5) / 2
    assert position.index_to_min == 125.0  # 100 / 80
    assert position.index_to_mean == 101.01  # 100 / 99
    assert position.below_map_count == 1  # 80 < 90; 90 itself would not be
    assert position.as_of == T0 and position.offer_count == 5


def test_the_cheapest_of_all_ranks_first_with_nobody_undercutting(user):
    mine = product(user, my_price=50)
    sync(mine, 50, 70)
    position = selectors.price_position(product=mine)
    assert (position.rank, position.rank_of, position.tied_count) == (1, 3, 1)
    assert (position.undercut_count, position.undercut_max, position.undercut_mean) == (
        0,
        None,
        None,
    )
    assert position.index_to_min == 100.0
    assert position.below_map_count is None  # no MAP


def test_only_the_latest_sync_counts(user):
    mine = product(user, my_price=100, map_price=100)
    sync(mine, 10, 20, at=T0)
    sync(mine, 150, at=T0 + timedelta(minutes=1))
    position = selectors.price_position(product=mine)
    assert (position.rank, position.undercut_count, position.below_map_count) == (1, 0, 0)


def test_undefined_without_my_price_before_the_first_sync_and_without_offers(user):
    no_price, never, empty = (
        product(user, "a", map_price=10),
        product(user, "b", my_price=10),
        product(user, "c", my_price=10, map_price=10),
    )
    sync(no_price, 5, 20)
    sync(empty)
    positions = selectors.price_position_many(
        product_ids=[no_price.pk, never.pk, empty.pk, uuid.uuid4()]
    )
    assert positions[no_price.pk].rank is None and positions[no_price.pk].index_to_min is None
    assert positions[no_price.pk].below_map_count == 1 and positions[no_price.pk].offer_count == 2
    assert positions[never.pk] == PricePosition(10, None, *[None] * 11)
    assert (positions[empty.pk].rank, positions[empty.pk].rank_of) == (1, 1)
    assert positions[empty.pk].index_to_min is None and positions[empty.pk].below_map_count == 0
    assert len(positions) == 4


def test_many_products_cost_one_query(user, django_assert_num_queries):
    products = [product(user, f"p{i}", my_price=100 + i, map_price=90) for i in range(6)]
    for index, item in enumerate(products):
        sync(item, *range(10, 10 + 10 * index, 10))
    with django_assert_num_queries(1):
        positions = selectors.price_position_many(product_ids=[p.pk for p in products])
    assert [positions[p.pk].undercut_count for p in products] == [0, 1, 2, 3, 4, 5]


def test_the_catalogue_sorts_by_my_price_rank_and_index_as_the_position_shows(user, other_user):
    a = product(user, "a", my_price=300)  # rank 3, index 300 %
    b = product(user, "b", my_price=100)  # rank 1, index 100 %
    c = product(user, "c")  # no price of mine: last either way
    d = product(user, "d", my_price=200)  # never synced: rank and index undefined
    product(other_user, "theirs", my_price=1)
    sync(a, 100, 200)
    sync(b, 100, 200)
    sync(c, 100)
    positions = selectors.price_position_many(product_ids=[a.pk, b.pk, c.pk, d.pk])
    assert positions[a.pk].rank == 3 and positions[a.pk].index_to_min == 300.0

    def names(by, descending=False):
        ordered = selectors.products_ordered(
            Product.objects.for_owner(user), by=by, descending=descending, now=T0
        )
        return [p.name for p in ordered]

    assert names(ProductOrder.MY_PRICE) == ["b", "d", "a", "c"]
    assert names(ProductOrder.RANK) == ["b", "a", "c", "d"]
    assert names(ProductOrder.RANK, descending=True) == ["a", "b", "c", "d"]
    assert names(ProductOrder.INDEX_TO_MIN, descending=True) == ["a", "b", "c", "d"]
