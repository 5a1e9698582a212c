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
    Expression,
    F,
    FloatField,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, NullIf, Round
from django.db.models.lookups import IsNull

from pricing.models import ProductSnapshot, RollupSpan, SnapshotRollup
from pricing.rollups import span_start
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


def price_index(price: Expression, reference: Expression) -> Expression:
    """price ÷ reference × 100 in the database, rounded to two decimals (a float): 100.0 when
    they are equal, above when the price is dearer. NULL when either is NULL or the reference
    is 0. The one implementation of the market position's indexes, shown and sorted by."""
    price, reference = Cast(price, FloatField()), Cast(reference, FloatField())
    index = price * Value(100.0) / NullIf(reference, Value(0.0))
    return Cast(Round(index, 2), FloatField())


def mean_price_change(*, start: datetime, end: datetime) -> Expression:
    """The percentage change of a product's mean price over [start, end), as an expression to
    annotate products with (one query, whatever their number; index seeks per product).

    Start value: the mean of the last snapshot at or before `start` (the price in force when
    the period begins), else the mean of the first snapshot inside the period. End value: the
    mean of the last snapshot before `end` (a snapshot exactly at `end` is outside). NULL when
    there is no start or no end snapshot, when either has no mean (no offers then), when the
    start mean is 0, and for an empty or inverted period (end <= start).

    Where the raw snapshots were pruned (pricing.retention), the hourly roll-ups stand in with
    the first and last snapshot of each hour: exact when `start` and `end` are whole hours
    (the figures of the same buckets, as the raw rows give them), otherwise the hour's first
    snapshot stands for the ones in it that are gone.
    """
    if end <= start:
        return Value(None, output_field=FloatField())
    snapshots = ProductSnapshot.objects.filter(product=OuterRef("pk"))
    at_start = snapshots.filter(taken_at__lte=start).order_by("-taken_at", "-id")
    at_end = snapshots.filter(taken_at__lt=end).order_by("-taken_at", "-id")
    hours = SnapshotRollup.objects.filter(product=OuterRef("pk"), span=RollupSpan.HOUR)
    hour_at_start = _last_in_hours(
        hours.filter(starts_at__lte=start, first_at__lte=start), last_at__lte=start
    )
    hour_at_end = _last_in_hours(hours.filter(starts_at__lt=end, first_at__lt=end), last_at__lt=end)
    first_hour_inside = hours.filter(
        starts_at__gte=span_start(RollupSpan.HOUR, start), first_at__gt=start, first_at__lt=end
    ).order_by("starts_at")
    start_mean = Case(
        # "Found" tells "no snapshot before the period" from "a snapshot without a mean". A raw
        # snapshot found is the right one: pruning removes the oldest rows first.
        When(_found(at_start), then=Subquery(at_start.values("mean_price")[:1])),
        When(_found(hour_at_start), then=Subquery(hour_at_start.values("mean")[:1])),
        # No snapshot at or before the start (the roll-ups hold the pruned ones too).
        default=Subquery(first_hour_inside.values("first_mean")[:1]),
        output_field=FloatField(),
    )
    end_mean = Case(
        When(_found(at_end), then=Subquery(at_end.values("mean_price")[:1])),
        default=Subquery(hour_at_end.values("mean")[:1]),
        output_field=FloatField(),
    )
    return percentage_change(start_mean, end_mean)


def _found(rows: QuerySet) -> IsNull:
    """Whether `rows` (ordered) has a first row: its key, NOT NULL. Not EXISTS, which may scan
    from the other end of the index, through the rows pruning has just deleted."""
    return IsNull(Subquery(rows.values("pk")[:1]), False)


def _last_in_hours(hours: QuerySet, **ended: datetime) -> QuerySet:
    """The latest of `hours`, annotated with the mean of its last snapshot: its last one if
    that passes `ended`, else its first (the one before the bound, when the hour is whole)."""
    return hours.order_by("-starts_at").annotate(
        mean=Case(
            When(**ended, then=F("last_mean")),
            default=F("first_mean"),
            output_field=FloatField(),
        )
    )


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
