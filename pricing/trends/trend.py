"""A product's price trend over a period, downsampled in the database (DESIGN §3).

price_trend plans the bucket (planning.py), then fetches the product series (one grouped
query) and the per-offer lines (two queries), and checks the real size against the cap.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

from pricing.models import ObservationRollup, Offer, OfferObservation, RollupSpan
from pricing.retention import raw_history_since
from pricing.statistics import price_change_many
from pricing.status import stale_after
from pricing.times import utc
from pricing.trends.buckets import FINEST_FIRST, Bucket, BucketGrid
from pricing.trends.planning import (
    MAX_TREND_VALUES,
    VALUES_PER_TREND_POINT,
    TrendPlan,
    TrendTooLarge,
    history_facts,
    keep_offer_lines,
    may_drop_offer_lines,
    plan_trend,
)
from pricing.trends.sources import (
    bucket_sums,
    each_snapshot,
    finest_bucket,
    history_pieces,
    last_prices,
)
from products.models import Product


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """The product's figures in one bucket (all the snapshots taken in it).

    `at` is the start of the bucket (the snapshot's time for RAW), aware, in the trend's zone.
    mean, weighted_mean: averages of the snapshots' means (None when none was defined); min,
    max: the lowest and highest price of the bucket; offer_count, total_stock: the bucket's
    averages, rounded to whole numbers.
    """

    at: datetime
    mean: float | None
    weighted_mean: float | None
    min: int | None
    max: int | None
    offer_count: int
    total_stock: int


@dataclass(frozen=True, slots=True)
class OfferSeries:
    """One offer's price (whole currency units) at each bucket of the trend, oldest first.

    `offer_id` is the service's id of the offer. The price is the last one observed at or
    before the bucket (the last of the bucket when it changed within it), carried forward
    bucket by bucket until the bucket in which the offer was last seen.
    """

    offer_id: uuid.UUID
    points: list[tuple[datetime, int]]


@dataclass(frozen=True, slots=True)
class Trend:
    """A product's price history over [start, end), downsampled in the database.

    start, end: the period, aware, in `tz`. bucket: the bucket used (never AUTO). points: the
    buckets that hold at least one snapshot, oldest first (buckets without a snapshot are
    absent, not None). offers: the offers seen in the period, each over the same buckets,
    ordered by their first point then offer id. change: price_change over [start, end).
    offers_truncated: per-offer lines were left out so that the answer fits the cap (AUTO only).
    """

    start: datetime
    end: datetime
    bucket: Bucket
    tz: ZoneInfo
    points: list[TrendPoint]
    offers: list[OfferSeries]
    change: float | None
    offers_truncated: bool = False

    @property
    def value_count(self) -> int:
        """The values a chart plots: 4 per product point (mean, weighted mean, min and max, each
        its own line, counted even where a value is None), plus 1 per per-offer point.
        offer_count and total_stock are not counted (they are not price lines). Never more
        than MAX_TREND_VALUES."""
        return VALUES_PER_TREND_POINT * len(self.points) + sum(
            len(offer.points) for offer in self.offers
        )

    @property
    def outage_gap(self) -> timedelta:
        """Neighbouring points further apart than this have an outage between them: no sync
        succeeded for longer than the product takes to go stale, beyond the bucket's length.
        A line drawn across would show prices nobody saw."""
        return self.bucket.max_length + stale_after()


def _product_points(
    product: Product,
    grid: BucketGrid,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    horizon: datetime | None,
) -> tuple[list[TrendPoint], list[datetime]]:
    """The product series and the database's bucket times (for matching the offers' keys)."""
    if grid.bucket is Bucket.RAW:
        rows = each_snapshot(product, start, end)
    else:
        rows = bucket_sums(product, grid, history_pieces(start, end, grid=grid, horizon=horizon))
    points, times = [], []
    for at, sums in rows:
        times.append(at)
        points.append(
            TrendPoint(
                at=at.astimezone(tz),
                mean=sums.mean_sum / sums.mean_count if sums.mean_count else None,
                weighted_mean=sums.weighted_mean_sum / sums.weighted_mean_count
                if sums.weighted_mean_count
                else None,
                min=sums.min_price,
                max=sums.max_price,
                offer_count=round(sums.offer_count_sum / sums.snapshots),
                total_stock=round(sums.total_stock_sum / sums.snapshots),
            )
        )
    return points, times


def _offer_series(
    product: Product,
    plan: TrendPlan,
    times: list[datetime],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    horizon: datetime | None,
) -> list[OfferSeries]:
    """Each planned offer's price at the product's bucket times, carried forward (two queries).

    The database gives the last observation per (offer, bucket) within the period (from the
    raw rows and roll-ups, sources.last_prices), and the last price before the period of the
    offers that carry one into it; Python only walks those already-bucketed rows forward over
    the bucket times.
    """
    if not plan.offers or not times:
        return []
    grid = plan.grid
    offers = {o.pk: o for o in plan.offers}
    carried_in = [o.pk for o in plan.offers if o.first_seen_at < start]
    carry: dict[int, int] = {}
    if carried_in:
        before = (
            OfferObservation.objects.filter(offer=OuterRef("pk"), observed_at__lt=start)
            .order_by("-observed_at", "-id")
            .values("price")[:1]
        )
        # Pruned (before the raw history's horizon): the last hour that ended before the start.
        hour_before = (
            ObservationRollup.objects.filter(
                offer=OuterRef("pk"), span=RollupSpan.HOUR, starts_at__lt=start, last_at__lt=start
            )
            .order_by("-starts_at")
            .values("price")[:1]
        )
        carry = {
            pk: price
            for pk, price in Offer.objects.filter(pk__in=carried_in)
            .order_by()
            .annotate(price_before=Coalesce(Subquery(before), Subquery(hour_before)))
            .values_list("pk", "price_before")
            if price is not None
        }
    last_in_bucket = last_prices(
        product,
        grid,
        history_pieces(start, end, grid=grid, horizon=horizon),
        list(offers) if plan.truncated else None,
    )
    changes: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for (pk, at), price in last_in_bucket.items():
        if pk in offers:
            changes[pk].append((grid.wall(at), price))
    keys = [grid.wall(t) for t in times]
    series = []
    for pk, offer in offers.items():
        steps = sorted(changes.get(pk, ()))
        price = carry.get(pk)
        if price is None and not steps:
            continue
        # Walk only the offer's own stretch of buckets: from its first price to its last sight.
        first = 0 if price is not None else bisect.bisect_left(keys, steps[0][0])
        last = bisect.bisect_right(keys, grid.key(offer.last_seen_at))
        points, step = [], 0
        for index in range(first, last):
            while step < len(steps) and steps[step][0] <= keys[index]:
                price = steps[step][1]
                step += 1
            if price is not None:
                points.append((times[index].astimezone(tz), price))
        if points:
            series.append(OfferSeries(offer_id=offer.offer_id, points=points))
    series.sort(key=_drawing_order)
    return series


def _drawing_order(series: OfferSeries) -> tuple[datetime, uuid.UUID]:
    return series.points[0][0], series.offer_id


def price_trend(
    *,
    product: Product,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    bucket: Bucket = Bucket.AUTO,
    include_offers: bool = True,
) -> Trend:
    """The product's price trend over [start, end) at a bucket size, bucketed in the database.

    Product series: one TrendPoint per bucket holding a snapshot (RAW: per snapshot), oldest
    first; bucket times are aware datetimes in `tz` (day, week and month buckets start at local
    midnight in `tz`, whatever time zone is active). Per-offer series (include_offers): the
    offers seen in the period, their prices at the same buckets carried forward until last seen.

    Size: value_count never exceeds MAX_TREND_VALUES. Cheap counts estimate it first. AUTO takes
    the finest bucket that fits; if no bucket fits with every per-offer line, it takes the
    finest bucket from days on that holds the product series, keeps the offers with the most
    points that fit and sets offers_truncated. Month buckets hold a century of history, so
    AUTO draws any real history. An explicit bucket that does not fit raises TrendTooLarge (a
    ValueError) saying which one would. An empty period gives no points and change None.
    Raises ValueError for naive datetimes or end <= start.

    Sources: buckets of an hour or more read the roll-ups for the whole hours and days of the
    period and the raw rows only for its edges (sources.py), so a year costs about what a month
    does. Before the raw history's horizon (pricing.retention) only hours and days are left:
    AUTO starts from hour buckets there, and an explicit finer bucket raises TrendTooFine (a
    ValueError). At most seven queries whatever the size of the history (more only if an
    estimate ever came out too low).
    """
    start_utc, end_utc = utc(start, "start"), utc(end, "end")
    if end_utc <= start_utc:
        raise ValueError(f"end ({end}) must be after start ({start})")
    bucket = Bucket(bucket)
    horizon = raw_history_since()
    history = history_facts(
        product, start_utc, end_utc, include_offers=include_offers, horizon=horizon
    )
    change = price_change_many(product_ids=[product.pk], start=start_utc, end=end_utc)[product.pk]
    coarser_than: Bucket | None = None
    while True:
        plan = plan_trend(
            bucket,
            history,
            tz,
            start_utc,
            end_utc,
            include_offers=include_offers,
            coarser_than=coarser_than,
            finest=finest_bucket(start_utc, horizon),
        )
        points, times = _product_points(product, plan.grid, start_utc, end_utc, tz, horizon)
        trend = Trend(
            start=start_utc.astimezone(tz),
            end=end_utc.astimezone(tz),
            bucket=plan.grid.bucket,
            tz=tz,
            points=points,
            offers=_offer_series(product, plan, times, start_utc, end_utc, tz, horizon),
            change=change,
            offers_truncated=plan.truncated,
        )
        if trend.value_count <= MAX_TREND_VALUES:
            return trend
        # The estimates are meant as upper bounds (the sync observes every return of an offer);
        # checking the real count keeps the cap a guarantee whatever the history holds.
        if bucket is not Bucket.AUTO or plan.grid.bucket is FINEST_FIRST[-1]:
            raise TrendTooLarge(
                bucket=plan.grid.bucket,
                values=trend.value_count,
                cap=MAX_TREND_VALUES,
                fits=None,
                offers_dropped_fit=bool(trend.offers),
            )
        product_values = VALUES_PER_TREND_POINT * len(trend.points)
        if may_drop_offer_lines(trend.bucket) and product_values <= MAX_TREND_VALUES:
            kept = keep_offer_lines(
                trend.offers,
                cost=lambda offer: len(offer.points),
                budget=MAX_TREND_VALUES - product_values,
            )
            return replace(trend, offers=sorted(kept, key=_drawing_order), offers_truncated=True)
        coarser_than = plan.grid.bucket
