"""A product's long memory: its extremes with their dates, time-weighted means and volatility
over windows of up to a year, read from the roll-ups (pricing.rollups)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from django.db.models import BooleanField, Case, OuterRef, Subquery, When

from pricing.models import ProductSnapshot, RollupSpan, SnapshotRollup
from pricing.rollups import rollup_cover, span_start
from pricing.times import utc
from products.models import Product


class MemoryWindow(StrEnum):
    """The windows a product's memory is read over, ending now."""

    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"
    HALF_YEAR = "180d"
    YEAR = "365d"

    @property
    def length(self) -> timedelta:
        return {
            "24h": timedelta(days=1),
            "7d": timedelta(days=7),
            "30d": timedelta(days=30),
            "90d": timedelta(days=90),
            "180d": timedelta(days=180),
            "365d": timedelta(days=365),
        }[self.value]


@dataclass(frozen=True, slots=True)
class PriceExtreme:
    """The lowest or highest cheapest-offer price, and the UTC day it was first reached (the
    roll-ups keep days, not minutes, once the raw history is pruned)."""

    price: int
    on: date


@dataclass(frozen=True, slots=True)
class PriceMemory:
    """A product's cheapest price and mean price over a window [start, end) ending now, and
    over its whole history. Prices whole units of PRICE_CURRENCY; times aware UTC. The window's
    figures (lowest, highest, the means, mean_stddev) are None when the window holds no
    snapshot with offers; the history's (current_cheapest, the *_ever extremes,
    history_since) are None only without any. start is now − window taken down to its UTC hour.

    lowest, highest: the extremes of the cheapest offer's price in the window; lowest_ever,
    highest_ever: over the whole history. time_weighted_mean: the mean price weighted by how
    long each snapshot's value held (until the next successful sync, the last one until `end`),
    as Keepa reports averages; time_weighted_cheapest: the same of the cheapest price.
    snapshot_mean: the plain mean of the snapshots' mean prices (each sync counts once: the
    dashboard's other means). price_changes: how many times an offer's price changed in the
    window (rises + drops). mean_stddev: the standard deviation of the snapshots' mean prices
    in the window (population). is_lowest_in_90_days: the current cheapest price is at or below
    every cheapest price of the last 90 days, and the history is at least 90 days old;
    is_lowest_ever: at or below every cheapest price ever, with at least a day of history.
    history_since: when the product's history begins.
    """

    window: MemoryWindow
    start: datetime
    end: datetime
    history_since: datetime | None
    current_cheapest: int | None
    lowest: PriceExtreme | None
    highest: PriceExtreme | None
    lowest_ever: PriceExtreme | None
    highest_ever: PriceExtreme | None
    time_weighted_mean: float | None
    time_weighted_cheapest: float | None
    snapshot_mean: float | None
    price_changes: int
    mean_stddev: float | None
    is_lowest_in_90_days: bool
    is_lowest_ever: bool


def price_memory(*, product: Product, window: MemoryWindow, now: datetime) -> PriceMemory:
    """The product's PriceMemory over [now − window, now], from the hourly and daily roll-ups:
    two queries, whatever the length of the window and history.

    The window starts at the UTC hour holding now − window (start) and ends at `now` (end):
    whole days read the daily roll-ups, the partial first and last days the hourly ones
    (pricing.rollups.rollup_cover), so a year is about 410 rows and every figure is exact at
    hour edges. `now` is the present: a snapshot after it in its own hour counts as the hour's.

    Extremes are the cheapest offer's price (the snapshots' min_price): lowest the lowest of
    it, highest the highest of it (the roll-ups' max_min_price, never max_price, which is the
    dearest offer's), each with the first UTC day it was reached in the window (lowest_ever
    and highest_ever: ever). The time-weighted figures weigh each snapshot's mean and cheapest
    price by the time they held: the roll-ups' held sums of the window (an interval is counted
    with the snapshot that ended it), less the part before `start` of the interval that the
    window's first snapshot ended (known from the last snapshot before the window), plus the
    open interval from the latest snapshot until `end`; time without offers does not count.
    Roll-ups from before pricing.0011 hold no held time, changes or max_min_price: their
    stretches are left out of those figures. The figures of the window are None when it holds
    no snapshot with offers; current_cheapest, the all-time extremes and history_since are
    the history's whatever the window.
    """
    end = utc(now, "now")
    start = span_start(RollupSpan.HOUR, end - window.length)
    in_window = rollup_cover(start, end)
    in_90_days = rollup_cover(end - LOWEST_IN_DAYS, end)
    rows = list(
        SnapshotRollup.objects.filter(product=product)
        .filter(in_window | in_90_days)
        .annotate(
            in_window=Case(When(in_window, then=True), default=False, output_field=BooleanField()),
            in_90_days=Case(
                When(in_90_days, then=True), default=False, output_field=BooleanField()
            ),
        )
        .order_by("starts_at", "span")
        .values_list("in_window", "in_90_days", "starts_at", *_ROW_FIGURES, named=True)
    )
    facts = _history_facts(product, start=start, end=end)
    window_rows = [row for row in rows if row.in_window]
    since = facts["since"]
    current = facts["latest_min"]
    lowest_ever = _extreme(facts["lowest_ever"], facts["lowest_ever_at"])
    highest_ever = _extreme(facts["highest_ever"], facts["highest_ever_at"])
    low_90 = min(
        (r.min_price for r in rows if r.in_90_days and r.min_price is not None), default=None
    )
    is_lowest_in_90_days = (
        current is not None
        and low_90 is not None
        and since is not None
        and since <= end - LOWEST_IN_DAYS
        and current <= low_90
    )
    is_lowest_ever = (
        current is not None
        and lowest_ever is not None
        and since is not None
        and since <= end - timedelta(days=1)
        and current <= lowest_ever.price
    )
    count = sum(row.mean_count for row in window_rows)
    changes = sum(row.price_rises + row.price_drops for row in window_rows)
    memory = PriceMemory(
        window=window,
        start=start,
        end=end,
        history_since=since,
        current_cheapest=current,
        lowest=None,
        highest=None,
        lowest_ever=lowest_ever,
        highest_ever=highest_ever,
        time_weighted_mean=None,
        time_weighted_cheapest=None,
        snapshot_mean=None,
        price_changes=int(changes),
        mean_stddev=None,
        is_lowest_in_90_days=is_lowest_in_90_days,
        is_lowest_ever=is_lowest_ever,
    )
    if not count:
        return memory
    mean_sum = sum(row.mean_sum for row in window_rows)
    mean = mean_sum / count
    square = sum(row.mean_sq_sum for row in window_rows) / count
    variance = square - mean * mean
    # Σm²/n − (Σm/n)² cancels: what is left of a constant price is rounding, not spread.
    if variance <= 1e-12 * max(square, 1.0):
        variance = 0.0
    weighted_mean, weighted_cheapest = _time_weighted(window_rows, facts, start=start, end=end)
    return replace(
        memory,
        lowest=_first_reached(window_rows, "min_price", min),
        highest=_first_reached(window_rows, "max_min_price", max),
        time_weighted_mean=weighted_mean,
        time_weighted_cheapest=weighted_cheapest,
        snapshot_mean=mean,
        mean_stddev=math.sqrt(variance),
    )


# The badge's "lowest in 90 days".
LOWEST_IN_DAYS = timedelta(days=90)
_ROW_FIGURES = (
    "snapshots",
    "mean_sum",
    "mean_count",
    "mean_sq_sum",
    "min_price",
    "max_min_price",
    "price_rises",
    "price_drops",
    "held_seconds",
    "held_mean_sum",
    "held_min_sum",
)


def _history_facts(product: Product, *, start: datetime, end: datetime) -> dict:
    """One query, each figure an index probe of its own: when the history begins, its all-time
    extremes of the cheapest price with their first days, what held at `start` (the last
    snapshot before it, from its hour's roll-up) and the latest snapshot at or before `end`."""
    days = SnapshotRollup.objects.filter(product=OuterRef("pk"), span=RollupSpan.DAY)
    lowest = days.filter(min_price__isnull=False).order_by("min_price", "starts_at")
    highest = days.filter(max_min_price__isnull=False).order_by("-max_min_price", "starts_at")
    before = SnapshotRollup.objects.filter(
        product=OuterRef("pk"), span=RollupSpan.HOUR, starts_at__lt=start
    ).order_by("-starts_at")
    latest = ProductSnapshot.objects.filter(product=OuterRef("pk"), taken_at__lte=end).order_by(
        "-taken_at", "-id"
    )

    def first(rows, column):
        return Subquery(rows.values(column)[:1])

    return (
        Product.objects.filter(pk=product.pk)
        .values(
            since=first(days.order_by("starts_at"), "first_at"),
            lowest_ever=first(lowest, "min_price"),
            lowest_ever_at=first(lowest, "starts_at"),
            highest_ever=first(highest, "max_min_price"),
            highest_ever_at=first(highest, "starts_at"),
            before_at=first(before, "last_at"),
            before_mean=first(before, "last_mean"),
            before_min=first(before, "last_min"),
            latest_at=first(latest, "taken_at"),
            latest_mean=first(latest, "mean_price"),
            latest_min=first(latest, "min_price"),
        )
        .get()
    )


def _extreme(price: int | None, at: datetime | None) -> PriceExtreme | None:
    return None if price is None else PriceExtreme(int(price), _day(at))


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _first_reached(rows: list, column: str, pick) -> PriceExtreme | None:
    """The extreme of `column` over rows in time order, with the day of the first row that
    holds it."""
    values = [(getattr(row, column), row.starts_at) for row in rows]
    values = [(price, at) for price, at in values if price is not None]
    if not values:
        return None
    price = pick(price for price, _ in values)
    return PriceExtreme(int(price), _day(min(at for p, at in values if p == price)))


def _time_weighted(
    rows: list, facts: dict, *, start: datetime, end: datetime
) -> tuple[float | None, float | None]:
    """(time-weighted mean, time-weighted cheapest) over [start, end)."""
    seconds = sum(row.held_seconds for row in rows)
    mean_sum = sum(row.held_mean_sum for row in rows)
    min_sum = sum(row.held_min_sum for row in rows)
    before_at, before_mean, before_min = (facts[f"before_{x}"] for x in ("at", "mean", "min"))
    if any(row.snapshots for row in rows) and before_mean is not None and before_min is not None:
        # The window's first snapshot ended an interval that began before the window.
        outside = max((start - before_at).total_seconds(), 0.0)
        seconds -= outside
        mean_sum -= outside * before_mean
        min_sum -= outside * before_min
    latest_at, latest_mean, latest_min = (facts[f"latest_{x}"] for x in ("at", "mean", "min"))
    if latest_at is not None and latest_mean is not None and latest_min is not None:
        open_seconds = max((end - max(latest_at, start)).total_seconds(), 0.0)
        seconds += open_seconds
        mean_sum += open_seconds * latest_mean
        min_sum += open_seconds * latest_min
    # Less than a millisecond held: nothing to weigh (and what is left of a subtraction).
    if seconds < 1e-3:
        return None, None
    return mean_sum / seconds, min_sum / seconds
