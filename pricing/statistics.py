"""The statistics formulas, in one place (DESIGN §3).

The sync computes the offers' statistics over each successful answer and stores them as a
ProductSnapshot; every reader (overview, product page, API) reads snapshots through
pricing.selectors, so these are the only lines that know what a mean, a weighted mean or a
percentage change is. The change is computed in the database, where lists are sorted by it.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median

from django.db.models import (
    Case,
    Exists,
    Expression,
    FloatField,
    OuterRef,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, NullIf, Round

from pricing.models import ProductSnapshot
from pricing.times import utc
from products.models import Product


@dataclass(frozen=True, slots=True)
class OfferStatistics:
    """Statistics of a set of offers. Prices in whole currency units; None when undefined."""

    offer_count: int
    total_stock: int
    min_price: int | None
    max_price: int | None
    mean_price: float | None
    median_price: float | None
    # Σ price·stock / Σ stock: what a unit in stock costs on average; None when no stock.
    weighted_mean_price: float | None


def offer_statistics(offers: Iterable[tuple[int, int]]) -> OfferStatistics:
    """Statistics of (price, items_in_stock) pairs. An empty input gives count 0 and Nones."""
    pairs = list(offers)
    prices = [price for price, _ in pairs]
    total_stock = sum(stock for _, stock in pairs)
    if not prices:
        return OfferStatistics(0, 0, None, None, None, None, None)
    weighted = sum(price * stock for price, stock in pairs) / total_stock if total_stock else None
    return OfferStatistics(
        offer_count=len(prices),
        total_stock=total_stock,
        min_price=min(prices),
        max_price=max(prices),
        mean_price=sum(prices) / len(prices),
        median_price=float(median(prices)),
        weighted_mean_price=weighted,
    )


def percentage_change(start: Expression, end: Expression) -> Expression:
    """(end − start) / start × 100 in the database, rounded to two decimals (a float); NULL when
    undefined: no start, no end, or a start of 0. An unchanged value is 0.0, not NULL.

    The one implementation of the change: the figures shown and the orderings by change both
    come from it, so a list sorted by change agrees with the changes it shows.
    """
    start, end = Cast(start, FloatField()), Cast(end, FloatField())
    # (end / start − 1) × 100: the start, often a subquery, appears once in the SQL. NULLIF: a
    # division by a start of 0 is NULL, as any arithmetic on a NULL is.
    change = (end / NullIf(start, Value(0.0)) - Value(1.0)) * Value(100.0)
    # PostgreSQL rounds a numeric (Round casts to one): back to a float on both databases.
    return Cast(Round(change, 2), FloatField())


def mean_price_change(*, start: datetime, end: datetime) -> Expression:
    """The percentage change of a product's mean price over [start, end), as an expression to
    annotate products with (one query, whatever their number; an index seek per product).

    Start value: the mean of the last snapshot at or before `start` (the price in force when
    the period begins), else the mean of the first snapshot inside the period. End value: the
    mean of the last snapshot before `end` (a snapshot exactly at `end` is outside). NULL when
    there is no start or no end snapshot, when either has no mean (no offers then), when the
    start mean is 0, and for an empty or inverted period (end <= start).
    """
    if end <= start:
        return Value(None, output_field=FloatField())
    snapshots = ProductSnapshot.objects.filter(product=OuterRef("pk"))
    at_start = snapshots.filter(taken_at__lte=start).order_by("-taken_at", "-id")
    first_inside = snapshots.filter(taken_at__gt=start, taken_at__lt=end).order_by("taken_at", "id")
    at_end = snapshots.filter(taken_at__lt=end).order_by("-taken_at", "-id")
    start_mean = Case(
        # Exists tells "no snapshot before the period" from "a snapshot without a mean".
        When(Exists(at_start), then=Subquery(at_start.values("mean_price")[:1])),
        default=Subquery(first_inside.values("mean_price")[:1]),
        output_field=FloatField(),
    )
    return percentage_change(start_mean, Subquery(at_end.values("mean_price")[:1]))


def price_change_many(
    *, product_ids: Iterable[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, float | None]:
    """The percentage change of each product's mean price over [start, end) (mean_price_change),
    in one query; no query for no ids. Aware datetimes (ValueError for naive ones). Every
    requested id is a key of the answer, None where the change is undefined."""
    start, end = utc(start, "start"), utc(end, "end")
    ids = list(dict.fromkeys(product_ids))
    answer: dict[uuid.UUID, float | None] = dict.fromkeys(ids)
    if not ids or end <= start:
        return answer
    rows = (
        Product.objects.filter(pk__in=ids)
        .order_by()
        .annotate(change=mean_price_change(start=start, end=end))
        .values_list("pk", "change")
    )
    answer.update(rows)
    return answer
