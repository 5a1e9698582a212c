"""Where the owner's price stands among a product's current offers."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import (
    Case,
    Count,
    Expression,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import IsNull

from pricing.models import Offer, ProductSnapshot
from pricing.statistics import price_index
from products.models import Product


@dataclass(frozen=True, slots=True)
class PricePosition:
    """The owner's reference prices against the product's current offers (its latest sync).

    Prices are whole units of PRICE_CURRENCY, times aware UTC. Figures that need my_price are
    None without it; figures that need offers are None before the product's first sync (after a
    sync without offers, counts are 0 and the indexes None).

    rank: 1 + the number of offers strictly cheaper than my price (offers at my price share my
    rank, "competition ranking"): 1 means nobody is cheaper. rank_of: the number of prices
    ranked (the offers and mine). tied_count: offers at exactly my price. index_to_mean,
    index_to_min: my price ÷ the offers' mean price, ÷ the cheapest offer, as percentages with
    two decimals (100.00: the same; above: dearer; pricing.statistics.price_index).
    undercut_count: offers strictly below my price; undercut_max: by how much the cheapest is
    below it; undercut_mean: the mean amount the undercutting offers are below it (both None
    when nobody undercuts). below_map_count: current offers strictly below the MAP (None
    without a MAP or before the first sync).
    """

    my_price: int | None
    map_price: int | None
    offer_count: int | None
    rank: int | None
    rank_of: int | None
    tied_count: int | None
    index_to_mean: float | None
    index_to_min: float | None
    undercut_count: int | None
    undercut_max: int | None
    undercut_mean: float | None
    below_map_count: int | None
    as_of: datetime | None


def latest_snapshot_figure(name: str) -> Subquery:
    """A figure of the latest snapshot of the product OuterRef("pk") (one index seek)."""
    latest = ProductSnapshot.objects.filter(product=OuterRef("pk")).order_by("-taken_at", "-id")
    return Subquery(latest.values(name)[:1])


def rank_expression() -> Expression:
    """PricePosition.rank as an expression on a Product queryset, for sorting a catalogue:
    1 + its current offers strictly cheaper than my price; NULL without my price or before the
    first sync."""
    cheaper = (
        Offer.objects.current()
        .filter(product=OuterRef("pk"), price__lt=OuterRef("my_price"))
        .order_by()
        .values("product")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Case(
        When(my_price__isnull=True, then=Value(None)),
        When(IsNull(latest_snapshot_figure("offer_count"), True), then=Value(None)),
        default=Coalesce(Subquery(cheaper), Value(0)) + Value(1),
        output_field=IntegerField(),
    )


def with_position(products: QuerySet[Product]) -> QuerySet[Product]:
    """`products` annotated with the figures of their PricePosition (one grouped query)."""
    current = Q(offers__is_current=True)
    below_mine = current & Q(offers__price__lt=F("my_price"))
    return products.annotate(
        offer_count=latest_snapshot_figure("offer_count"),
        min_price=latest_snapshot_figure("min_price"),
        as_of=latest_snapshot_figure("taken_at"),
        index_to_mean=price_index(F("my_price"), latest_snapshot_figure("mean_price")),
        index_to_min=price_index(F("my_price"), latest_snapshot_figure("min_price")),
        undercut=Count("offers", filter=below_mine),
        undercut_total=Sum("offers__price", filter=below_mine),
        tied=Count("offers", filter=current & Q(offers__price=F("my_price"))),
        below_map=Count("offers", filter=current & Q(offers__price__lt=F("map_price"))),
    )


def price_position_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PricePosition]:
    """Each product's PricePosition, in one query whatever the number of products: the current
    offers counted against the reference prices, grouped by product, with the latest snapshot's
    figures as subqueries. Every requested id is a key of the answer (an unknown id gets an
    all-None position); no query for no ids."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    rows = with_position(Product.objects.filter(pk__in=ids).order_by()).values_list(
        "pk",
        "my_price",
        "map_price",
        "offer_count",
        "min_price",
        "as_of",
        "index_to_mean",
        "index_to_min",
        "undercut",
        "undercut_total",
        "tied",
        "below_map",
    )
    answer = dict.fromkeys(ids, PricePosition(*[None] * 13))
    for row in rows:
        pk, mine, map_price, offers, cheapest, as_of, to_mean, to_min = row[:8]
        undercut, undercut_total, tied, below_map = row[8:]
        synced = offers is not None
        ranked = synced and mine is not None
        answer[pk] = PricePosition(
            my_price=mine,
            map_price=map_price,
            offer_count=offers,
            rank=undercut + 1 if ranked else None,
            rank_of=offers + 1 if ranked else None,
            tied_count=tied if ranked else None,
            index_to_mean=to_mean if ranked else None,
            index_to_min=to_min if ranked else None,
            undercut_count=undercut if ranked else None,
            undercut_max=mine - cheapest if ranked and undercut else None,
            undercut_mean=mine - undercut_total / undercut if ranked and undercut else None,
            below_map_count=below_map if synced and map_price is not None else None,
            as_of=as_of,
        )
    return answer
