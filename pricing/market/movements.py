"""What moved in a catalogue over a period: price rises and drops, offers that ran out of stock
or came back, appeared or vanished, and new lows, from the roll-ups (pricing.rollups)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import batched

from django.db.models import Count, F, Min, OuterRef, Q, QuerySet, Subquery, Sum

from pricing.models import RollupSpan, SnapshotRollup
from pricing.rollups import rollup_cover, span_start
from pricing.times import utc
from products.models import Product


class Movement(StrEnum):
    RISES = "rises"
    DROPS = "drops"
    SOLD_OUT = "sold-out"
    RESTOCKED = "restocked"
    APPEARED = "appeared"
    VANISHED = "vanished"
    NEW_LOWS = "new-lows"

    @property
    def label(self) -> str:
        return {
            "rises": "Price rises",
            "drops": "Price drops",
            "sold-out": "Ran out of stock",
            "restocked": "Back in stock",
            "appeared": "Offers appeared",
            "vanished": "Offers vanished",
            "new-lows": "New 90-day lows",
        }[self.value]


# Product ids per query: under SQLite's limit on a statement's variables, and few enough that
# PostgreSQL reads each product's rows by index. With a catalogue's every id in one list it
# scans the whole roll-up table instead: 1,000 products with 120 days of roll-ups took 900 ms
# in one query, 190 ms in two.
IDS_PER_QUERY = 500
# A new low: the product's cheapest price in the period is below every cheapest price of this
# many days before it.
NEW_LOW_LOOKBACK_DAYS = 90


@dataclass(frozen=True, slots=True)
class MovementCount:
    """events: how many times it happened in the period (offer price changes, offers that sold
    out…; for new lows, the products that made one); products: in how many products."""

    movement: Movement
    events: int
    products: int


@dataclass(frozen=True, slots=True)
class CatalogueMovements:
    """What moved in an owner's catalogue over [start, end), one count per Movement in the
    enum's order. Times aware UTC."""

    start: datetime
    end: datetime
    counts: list[MovementCount]


# The roll-up column each summed movement reads.
COLUMNS = {
    Movement.RISES: "price_rises",
    Movement.DROPS: "price_drops",
    Movement.SOLD_OUT: "offers_sold_out",
    Movement.RESTOCKED: "offers_restocked",
    Movement.APPEARED: "offers_appeared",
    Movement.VANISHED: "offers_vanished",
}


def catalogue_movements(*, owner, start: datetime, end: datetime) -> CatalogueMovements:
    """The owner's CatalogueMovements over [start, end), summed in the database from the
    roll-ups (whole UTC hours: start is rounded down to its hour; the whole days of the period
    read the daily roll-ups, which hold the same sums as their hours). Two queries whatever the
    size of the catalogue (one more per IDS_PER_QUERY products past the first): the owner's
    product ids, then the sums over their roll-ups. Raises ValueError when end <= start or a
    time is naive.

    Summed movements: events are the sums of the snapshots' counts in the period (a price rise
    is one offer's price going up at one sync), products those with a non-zero sum. New lows:
    products whose cheapest price in the period is below every cheapest price of the
    NEW_LOW_LOOKBACK_DAYS whole UTC days before the period's first day and of that day's hours
    before the period; a product without a price in those makes none. events = products.
    Every product of the owner counts, suspended ones included."""
    start, end = _period(start, end)
    period, lookback = _period_rows(start, end)
    # The ids as a list, not a join: PostgreSQL then reads each piece of the period (and the
    # lookback) as one index range per product (a BitmapOr), instead of every roll-up of the
    # catalogue (a join filters them after reading them all).
    ids = list(Product.objects.filter(owner=owner).order_by().values_list("pk", flat=True))
    totals: Counter[str] = Counter()
    for chunk in batched(ids, IDS_PER_QUERY):
        per_product = (
            SnapshotRollup.objects.filter(product_id__in=chunk)
            .filter(period | lookback)
            .values("product_id")
            .annotate(
                **{name: Sum(column, filter=period, default=0) for name, column in _SUMMED.items()},
                low=Min("min_price", filter=period),
                before=Min("min_price", filter=lookback),
            )
            .order_by()
        )
        totals.update(
            {
                name: value or 0
                for name, value in per_product.aggregate(
                    **{f"{name}_events": Sum(name, default=0) for name in _SUMMED},
                    **{
                        f"{name}_products": Count("product_id", filter=Q(**{f"{name}__gt": 0}))
                        for name in _SUMMED
                    },
                    new_lows=Count("product_id", filter=Q(low__lt=F("before"))),
                ).items()
            }
        )
    counts = []
    for movement in Movement:
        if movement is Movement.NEW_LOWS:
            events = products = totals["new_lows"]
        else:
            name = movement.name.lower()
            events, products = totals[f"{name}_events"], totals[f"{name}_products"]
        counts.append(MovementCount(movement, int(events), int(products)))
    return CatalogueMovements(start=start, end=end, counts=counts)


def products_moved(
    products: QuerySet[Product], *, movement: Movement, start: datetime, end: datetime
) -> QuerySet[Product]:
    """`products` narrowed to those where `movement` happened in [start, end) (counted as
    catalogue_movements counts), still a lazy queryset for the caller to order and page: a
    correlated subquery on each product's roll-ups (one index range per piece of the period),
    evaluated with it. Raises ValueError when end <= start or a time is naive."""
    start, end = _period(start, end)
    period, lookback = _period_rows(start, end)
    movement = Movement(movement)
    rows = SnapshotRollup.objects.filter(product=OuterRef("pk"))
    if movement is not Movement.NEW_LOWS:
        # Counts are never negative: a non-zero sum is a row with a count.
        moved = rows.filter(period, **{f"{COLUMNS[movement]}__gt": 0}).values("pk")[:1]
        return products.alias(market_moved=Subquery(moved)).filter(market_moved__isnull=False)

    def lowest(rows_of: Q) -> Subquery:
        priced = rows.filter(rows_of, min_price__isnull=False).order_by("min_price")
        return Subquery(priced.values("min_price")[:1])

    return products.alias(market_low=lowest(period), market_before=lowest(lookback)).filter(
        market_low__lt=F("market_before")
    )


_SUMMED = {movement.name.lower(): column for movement, column in COLUMNS.items()}


def _period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = utc(start, "start"), utc(end, "end")
    if end <= start:
        raise ValueError("end must be later than start")
    return span_start(RollupSpan.HOUR, start), end


def _period_rows(start: datetime, end: datetime) -> tuple[Q, Q]:
    """The roll-up rows of the period, and of the lookback before it (pricing.rollups
    .rollup_cover: days where whole, hours at the edges)."""
    first_day = span_start(RollupSpan.DAY, start)
    lookback = rollup_cover(first_day - timedelta(days=NEW_LOW_LOOKBACK_DAYS), start)
    return rollup_cover(start, end), lookback
