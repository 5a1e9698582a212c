"""Planning a trend before fetching it: which bucket, and which per-offer lines, fit the cap.

Cheap facts about the period (counts, first and last times, the offers seen) give upper bounds
of the values each bucket size would carry; the finest bucket that fits is chosen. The cap is a
guarantee: trend.py checks the real count after fetching and plans again if an estimate was low.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, Value
from django.db.models.functions import Greatest, Least

from pricing.models import Offer
from pricing.trends.buckets import FINEST_FIRST, Bucket, BucketGrid
from pricing.trends.sources import history_pieces, snapshot_counts
from products.models import Product

# The most values one trend may carry (what a chart plots), whatever the history's length.
MAX_TREND_VALUES = 5000
# A product point is drawn as four values: mean, stock-weighted mean, min and max.
VALUES_PER_TREND_POINT = 4


class TrendTooLarge(ValueError):
    """The trend asked for would carry more than MAX_TREND_VALUES values.

    `values` is the estimate for the bucket asked for (a lower bound when `at_least`), `cap`
    the limit, and `fits` the finest bucket that would fit (None when none does with the
    per-offer lines asked for).
    """

    def __init__(
        self,
        *,
        bucket: Bucket,
        values: int,
        cap: int,
        fits: Bucket | None,
        fits_values: int | None = None,
        at_least: bool = False,
        offers_dropped_fit: bool = False,
    ) -> None:
        self.bucket, self.values, self.cap, self.fits = bucket, values, cap, fits
        amount = f"at least {values:,}" if at_least else f"about {values:,}"
        message = (
            f"A trend with {bucket.value} buckets over this period would carry {amount} "
            f"values, more than the cap of {cap:,}."
        )
        if fits is not None:
            message += f" The {fits.value} bucket fits (about {fits_values:,} values)."
        elif offers_dropped_fit:
            message += (
                " No bucket fits with every per-offer line: ask for the auto bucket, which "
                "keeps the offers with the most points, or leave the per-offer lines out."
            )
        else:
            message += " Even month buckets do not fit: choose a shorter period."
        super().__init__(message)


class TrendTooFine(ValueError):
    """The bucket asked for is finer than the history keeps for this period: raw minute
    history is kept HISTORY_RAW_DAYS days (pricing.retention), hours and days for ever."""

    def __init__(self, *, bucket: Bucket, finest: Bucket) -> None:
        self.bucket, self.finest = bucket, finest
        super().__init__(
            f"This period reaches back beyond the {settings.HISTORY_RAW_DAYS} days of minute "
            f"history kept: ask for {finest.value} buckets or coarser (or auto)."
        )


@dataclass(frozen=True, slots=True)
class SeenOffer:
    pk: int
    offer_id: uuid.UUID
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryFacts:
    """Cheap facts about the period, read before anything is fetched."""

    snapshots: int
    first: datetime | None
    last: datetime | None
    offer_count_sum: int  # Σ offer_count: about how many (offer, snapshot) pairs there are
    # Offers seen in the period, longest-present first, at most MAX_TREND_VALUES + 1 of them.
    offers: list[SeenOffer]

    @property
    def too_many_offers(self) -> bool:
        return len(self.offers) > MAX_TREND_VALUES


@dataclass(frozen=True, slots=True)
class TrendPlan:
    grid: BucketGrid
    offers: list[SeenOffer]
    truncated: bool


def history_facts(
    product: Product,
    start: datetime,
    end: datetime,
    *,
    include_offers: bool,
    horizon: datetime | None,
) -> HistoryFacts:
    """Two queries at most: the snapshots' count and bounds (from the raw rows and roll-ups,
    sources.history_pieces), and the offers seen."""
    counts = snapshot_counts(product, history_pieces(start, end, grid=None, horizon=horizon))
    offers: list[SeenOffer] = []
    if include_offers and counts.snapshots:
        presence = ExpressionWrapper(
            Least("last_seen_at", Value(end, output_field=DateTimeField()))
            - Greatest("first_seen_at", Value(start, output_field=DateTimeField())),
            output_field=DurationField(),
        )
        # Present at some time in [start, end): first seen before its end, last seen after
        # its start.
        rows = (
            Offer.objects.filter(product=product, first_seen_at__lt=end, last_seen_at__gte=start)
            .order_by(presence.desc(), "offer_id")
            .values_list("pk", "offer_id", "first_seen_at", "last_seen_at")[: MAX_TREND_VALUES + 1]
        )
        offers = [SeenOffer(*row) for row in rows]
    return HistoryFacts(counts.snapshots, counts.first, counts.last, counts.offer_count_sum, offers)


def may_drop_offer_lines(bucket: Bucket) -> bool:
    """Per-offer lines are dropped only from day buckets on: below that, AUTO keeps every offer
    drawn by moving to a coarser bucket instead."""
    return FINEST_FIRST.index(bucket) >= FINEST_FIRST.index(Bucket.DAY)


def keep_offer_lines[T](lines: Sequence[T], *, cost: Callable[[T], int], budget: int) -> list[T]:
    """The lines to draw within `budget` values: costliest first (the longest-lived offers
    tell the most), each kept if it still fits. The one rule for dropping per-offer lines,
    used on estimates before fetching and on real counts after."""
    kept = []
    for line in sorted(lines, key=lambda line: -cost(line)):
        if cost(line) <= budget:
            kept.append(line)
            budget -= cost(line)
    return kept


def _estimate_product(grid: BucketGrid, history: HistoryFacts) -> int:
    """An upper bound of the product points (buckets holding a snapshot)."""
    if not history.snapshots:
        return 0
    slots = grid.slots(history.first, history.last)
    return history.snapshots if slots is None else min(history.snapshots, slots)


def _estimate_offer(
    grid: BucketGrid, history: HistoryFacts, offer: SeenOffer, product_points: int
) -> int:
    """An upper bound of one offer's points: the product buckets within its presence."""
    if not history.snapshots:
        return 0
    slots = grid.slots(
        max(offer.first_seen_at, history.first), min(offer.last_seen_at, history.last)
    )
    return product_points if slots is None else min(product_points, slots)


def _estimate(grid: BucketGrid, history: HistoryFacts, *, include_offers: bool) -> int:
    """Upper bound of the values before fetching (offer points: at most Σ offer_count too)."""
    product = _estimate_product(grid, history)
    if not include_offers:
        return VALUES_PER_TREND_POINT * product
    offers = sum(_estimate_offer(grid, history, o, product) for o in history.offers)
    return VALUES_PER_TREND_POINT * product + min(offers, history.offer_count_sum)


def _product_fits(grid: BucketGrid, history: HistoryFacts) -> bool:
    return VALUES_PER_TREND_POINT * _estimate_product(grid, history) <= MAX_TREND_VALUES


def plan_trend(
    bucket: Bucket,
    history: HistoryFacts,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    include_offers: bool,
    coarser_than: Bucket | None = None,
    finest: Bucket = Bucket.RAW,
) -> TrendPlan:
    """Choose the bucket (and for AUTO, which per-offer lines) from the estimates.

    `coarser_than`: a bucket whose estimate proved too low; AUTO then looks only coarser.
    `finest`: the finest bucket the history has (hours before the raw history's horizon);
    TrendTooFine for an explicit bucket finer than it.
    Raises TrendTooLarge for an explicit bucket that does not fit, and for AUTO when not even
    the product series fits in month buckets.
    """
    grids = {b: BucketGrid.of(b, tz, start, end) for b in FINEST_FIRST}
    # With more offers than the cap, no bucket can draw each of them even once.
    too_many = include_offers and history.too_many_offers
    estimates = {b: _estimate(grids[b], history, include_offers=include_offers) for b in grids}
    fits = {b: not too_many and estimates[b] <= MAX_TREND_VALUES for b in grids}
    if bucket is not Bucket.AUTO and FINEST_FIRST.index(bucket) < FINEST_FIRST.index(finest):
        raise TrendTooFine(bucket=bucket, finest=finest)
    allowed = FINEST_FIRST[FINEST_FIRST.index(finest) :]
    if coarser_than is not None:
        allowed = allowed[allowed.index(coarser_than) + 1 :]
    # Never coarser than the finest bucket from days on that holds the product series: weeks
    # and months are for long histories, not for drawing more per-offer lines.
    floor = next(
        (b for b in allowed if may_drop_offer_lines(b) and _product_fits(grids[b], history)), None
    )
    candidates = allowed if floor is None else allowed[: allowed.index(floor) + 1]
    fitting = next((b for b in candidates if fits[b]), None)
    if bucket is not Bucket.AUTO:
        if not fits[bucket]:
            raise TrendTooLarge(
                bucket=bucket,
                values=estimates[bucket],
                cap=MAX_TREND_VALUES,
                fits=fitting,
                fits_values=estimates[fitting] if fitting else None,
                at_least=too_many,
                offers_dropped_fit=floor is not None,
            )
        return TrendPlan(grids[bucket], history.offers if include_offers else [], False)
    if not history.snapshots:
        return TrendPlan(grids[Bucket.RAW], [], False)
    if fitting is not None:
        return TrendPlan(grids[fitting], history.offers if include_offers else [], False)
    if floor is None:
        coarsest = FINEST_FIRST[-1]
        raise TrendTooLarge(
            bucket=coarsest, values=estimates[coarsest], cap=MAX_TREND_VALUES, fits=None
        )
    # The floor bucket, and the offer lines that fit beside the product series.
    grid = grids[floor]
    product_points = _estimate_product(grid, history)
    kept = keep_offer_lines(
        history.offers,
        cost=lambda offer: _estimate_offer(grid, history, offer, product_points),
        budget=MAX_TREND_VALUES - VALUES_PER_TREND_POINT * product_points,
    )
    return TrendPlan(grid, kept, True)
