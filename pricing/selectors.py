"""Reads of the Offers side that span models: current statistics, percentage changes, sparklines
and price trends (DESIGN §3). The overview, the product page and the API all read through here.

Conventions of every selector:

- Times in are aware datetimes (a naive one raises ValueError); inside, everything is UTC.
  Periods are half-open: [start, end).
- Prices are whole units of settings.PRICE_CURRENCY; means are floats of the same unit.
- An undefined figure is None, never 0: no snapshot, no offers, no stock, an empty period.
- Figures come from ProductSnapshot rows, which the sync computes with pricing.statistics (the
  only place the formulas live); the percentage change is pricing.statistics.percentage_change.
- Many-product selectors run a constant number of queries whatever the number of products, and
  every answer is downsampled in the database: a trend never carries more than
  MAX_TREND_POINTS values (see Trend.point_count).
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.db.models import (
    Avg,
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import (
    Greatest,
    Least,
    RowNumber,
)

from pricing.db_functions import Offsets, ZoneTrunc, zone_offsets
from pricing.models import Offer, OfferObservation, ProductSnapshot, SyncRun
from pricing.statistics import OfferStatistics, offer_statistics, percentage_change
from products.models import Product

MAX_TREND_POINTS = 5000
# A trend point is drawn as four lines: mean, stock-weighted mean, min and max.
SERIES_PER_TREND_POINT = 4


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


def _ids(product_ids: Iterable[uuid.UUID | str]) -> list[uuid.UUID]:
    # Callers may hand over strings from a URL; the answers are keyed by UUID either way.
    return list(
        dict.fromkeys(i if isinstance(i, uuid.UUID) else uuid.UUID(str(i)) for i in product_ids)
    )


# --- Current statistics --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentStatistics:
    """The statistics of a product's current offers and when they were taken.

    `stats` has offer_count 0 and None figures when the product was never synced; `as_of` is the
    taken_at (aware, UTC) of the snapshot they come from, None when never synced.
    """

    stats: OfferStatistics
    as_of: datetime | None


_NEVER_SYNCED = CurrentStatistics(stats=offer_statistics(()), as_of=None)


def _statistics_of(snapshot: ProductSnapshot) -> CurrentStatistics:
    return CurrentStatistics(
        stats=OfferStatistics(
            offer_count=snapshot.offer_count,
            total_stock=snapshot.total_stock,
            min_price=snapshot.min_price,
            max_price=snapshot.max_price,
            mean_price=snapshot.mean_price,
            median_price=snapshot.median_price,
            weighted_mean_price=snapshot.weighted_mean_price,
        ),
        as_of=snapshot.taken_at,
    )


def product_stats(*, product: Product) -> CurrentStatistics:
    """The product's current statistics: those of its latest snapshot (one query).

    The sync writes the snapshot and the current offers in one transaction, so the latest
    snapshot is exactly the statistics of the current offers. Undefined figures are None (no
    offers: every price figure; zero total stock: the weighted mean); never synced: offer_count
    0, total_stock 0, Nones, and as_of None.
    """
    return product_stats_many(product_ids=[product.pk])[product.pk]


def product_stats_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CurrentStatistics]:
    """product_stats for many products in one query. Every requested id is a key of the answer
    (unknown or never-synced products get the never-synced value); no query for no ids."""
    ids = _ids(product_ids)
    if not ids:
        return {}
    latest = (
        ProductSnapshot.objects.filter(product=OuterRef("pk"))
        .order_by("-taken_at", "-id")
        .values("id")[:1]
    )
    # One index seek per product on (product, taken_at); never a scan of the history.
    latest_ids = (
        Product.objects.filter(pk__in=ids)
        .order_by()
        .annotate(latest=Subquery(latest))
        .values("latest")
    )
    answer = dict.fromkeys(ids, _NEVER_SYNCED)
    for snapshot in ProductSnapshot.objects.filter(pk__in=latest_ids).order_by():
        answer[snapshot.product_id] = _statistics_of(snapshot)
    return answer


def history_start(*, product: Product) -> datetime | None:
    """When the product's history begins: the taken_at (aware, UTC) of its first snapshot, None
    before its first successful sync. One query."""
    return (
        ProductSnapshot.objects.filter(product=product)
        .order_by("taken_at", "id")
        .values_list("taken_at", flat=True)
        .first()
    )


@dataclass(frozen=True, slots=True)
class CurrentOffer:
    """One of the product's current offers. Prices in whole currency units, times aware UTC.

    `previous_price` is the price at the observation before the latest one (observations are
    written when price or stock changes); `change` the percentage change from it to the current
    price (percentage_change: two decimals, 0.0 when only the stock changed). Both are None for
    an offer observed only once so far: it is new.
    """

    offer_id: uuid.UUID
    price: int
    items_in_stock: int
    first_seen_at: datetime
    last_seen_at: datetime
    previous_price: int | None
    change: float | None

    @property
    def is_new(self) -> bool:
        return self.previous_price is None


def current_offers(*, product: Product) -> list[CurrentOffer]:
    """The product's current offers (those of its latest successful sync), cheapest first
    (then by offer id), each with its change since the previous observation. One query."""
    previous_price = (
        OfferObservation.objects.filter(offer=OuterRef("pk"))
        .order_by("-observed_at", "-id")
        .values("price")[1:2]
    )
    rows = (
        Offer.objects.current()
        .filter(product=product)
        .order_by("price", "offer_id")
        .annotate(previous_price=Subquery(previous_price))
        .values_list(
            "offer_id",
            "price",
            "items_in_stock",
            "first_seen_at",
            "last_seen_at",
            "previous_price",
        )
    )
    return [
        CurrentOffer(
            offer_id,
            price,
            stock,
            first_seen,
            last_seen,
            previous,
            percentage_change(previous, price),
        )
        for offer_id, price, stock, first_seen, last_seen, previous in rows
    ]


# --- Percentage change ---------------------------------------------------------------------------


def price_change(*, product: Product, start: datetime, end: datetime) -> float | None:
    """The percentage change of the product's mean price over [start, end) (one query).

    See price_change_many for the definition and the None cases.
    """
    return price_change_many(product_ids=[product.pk], start=start, end=end)[product.pk]


def price_change_many(
    *, product_ids: Iterable[uuid.UUID], start: datetime, end: datetime
) -> dict[uuid.UUID, float | None]:
    """The percentage change of each product's mean price over [start, end), in one query.

    Start value: the mean of the last snapshot at or before `start` (the price in force when
    the period begins), else the mean of the first snapshot inside the period. End value: the
    mean of the last snapshot before `end` (a snapshot exactly at `end` is outside). The change
    is (end − start) / start × 100 rounded to two decimals (percentage_change). None when there
    is no start or no end snapshot, when either has no mean (no offers then), when the start
    mean is 0, and for an empty or inverted period (end <= start); an unchanged price is 0.0.
    Every requested id is a key of the answer.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    ids = _ids(product_ids)
    answer: dict[uuid.UUID, float | None] = dict.fromkeys(ids)
    if not ids or end <= start:
        return answer
    snapshots = ProductSnapshot.objects.filter(product=OuterRef("pk"))
    at_start = snapshots.filter(taken_at__lte=start).order_by("-taken_at", "-id")
    first_inside = snapshots.filter(taken_at__gt=start, taken_at__lt=end).order_by("taken_at", "id")
    at_end = snapshots.filter(taken_at__lt=end).order_by("-taken_at", "-id")
    rows = (
        Product.objects.filter(pk__in=ids)
        .order_by()
        .annotate(
            # Exists tells "no snapshot before the period" from "a snapshot without a mean".
            has_start=Exists(at_start),
            start_mean=Subquery(at_start.values("mean_price")[:1]),
            first_mean=Subquery(first_inside.values("mean_price")[:1]),
            end_mean=Subquery(at_end.values("mean_price")[:1]),
        )
        .values_list("pk", "has_start", "start_mean", "first_mean", "end_mean")
    )
    for pk, has_start, start_mean, first_mean, end_mean in rows:
        answer[pk] = percentage_change(start_mean if has_start else first_mean, end_mean)
    return answer


# --- Sparklines ----------------------------------------------------------------------------------


def sparkline_many(
    *,
    product_ids: Iterable[uuid.UUID],
    start: datetime,
    end: datetime,
    points: int = 24,
) -> dict[uuid.UUID, list[float | None]]:
    """Each product's mean price in `points` equal slices of [start, end), oldest first.

    A slice's value is the average of the means of the snapshots taken in it; None where a
    slice has no snapshot (or only snapshots without offers). One query, bucketed in the
    database. Every requested id is a key of the answer. Raises ValueError when points < 1 or
    end <= start.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    if points < 1:
        raise ValueError(f"points must be at least 1, not {points}")
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    ids = _ids(product_ids)
    answer: dict[uuid.UUID, list[float | None]] = {pk: [None] * points for pk in ids}
    if not ids:
        return answer
    span = end - start
    # Slice i is [start + span·i/points, start + span·(i+1)/points): a CASE over the boundaries
    # is the portable way to bucket by an arbitrary width (no epoch arithmetic on SQLite).
    slice_of = Case(
        *(
            When(taken_at__lt=start + span * (i + 1) / points, then=Value(i))
            for i in range(points - 1)
        ),
        default=Value(points - 1),
        output_field=IntegerField(),
    )
    rows = (
        ProductSnapshot.objects.filter(product_id__in=ids, taken_at__gte=start, taken_at__lt=end)
        .annotate(slice=slice_of)
        .values("product_id", "slice")
        .annotate(mean=Avg("mean_price"))
        .order_by()
        .values_list("product_id", "slice", "mean")
    )
    for pk, index, mean in rows:
        answer[pk][index] = mean
    return answer


# --- Trends --------------------------------------------------------------------------------------


class Bucket(StrEnum):
    """The time step of a trend: one point per snapshot (RAW), per minute, hour or day, or
    AUTO: the finest of those whose answer stays within MAX_TREND_POINTS."""

    RAW = "raw"
    MINUTE = "minute"
    # Between minutes and hours: a day of minute snapshots is 5,760 values (over the cap), and
    # hour buckets would flatten the day a user watches minute by minute into 24 points.
    FIVE_MINUTES = "5min"
    FIFTEEN_MINUTES = "15min"
    HOUR = "hour"
    # Between hours and days: a month with a few offers drawn is too many hours for the cap.
    SIX_HOURS = "6h"
    DAY = "day"
    AUTO = "auto"

    @property
    def span(self) -> str:
        """What one point covers, for people ("5 minutes"); "" for RAW and AUTO."""
        return {
            "minute": "1 minute",
            "5min": "5 minutes",
            "15min": "15 minutes",
            "hour": "1 hour",
            "6h": "6 hours",
            "day": "1 day",
        }.get(self.value, "")


class TrendTooLarge(ValueError):
    """The trend asked for would carry more than MAX_TREND_POINTS values.

    `points` is the estimate for the bucket asked for (a lower bound when `at_least`), `cap`
    the limit, and `fits` the finest bucket that would fit (None when none does with the
    per-offer lines asked for).
    """

    def __init__(
        self,
        *,
        bucket: Bucket,
        points: int,
        cap: int,
        fits: Bucket | None,
        fits_points: int | None = None,
        at_least: bool = False,
        offers_dropped_fit: bool = False,
    ) -> None:
        self.bucket, self.points, self.cap, self.fits = bucket, points, cap, fits
        amount = f"at least {points:,}" if at_least else f"about {points:,}"
        message = (
            f"A trend with {bucket.value} buckets over this period would carry {amount} "
            f"points, more than the cap of {cap:,}."
        )
        if fits is not None:
            message += f" The {fits.value} bucket fits (about {fits_points:,} points)."
        elif offers_dropped_fit:
            message += (
                " No bucket fits with every per-offer line: ask for the auto bucket, which "
                "keeps the offers with the most points, or leave the per-offer lines out."
            )
        else:
            message += " Even day buckets do not fit: choose a shorter period."
        super().__init__(message)


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
    def point_count(self) -> int:
        """The values a chart plots: 4 per product point (mean, weighted mean, min and max, each
        its own line, counted even where a value is None), plus 1 per per-offer point.
        offer_count and total_stock are not counted (they are not price lines). Never more
        than MAX_TREND_POINTS."""
        return SERIES_PER_TREND_POINT * len(self.points) + sum(
            len(offer.points) for offer in self.offers
        )


_UNIT = {
    Bucket.MINUTE: timedelta(minutes=1),
    Bucket.FIVE_MINUTES: timedelta(minutes=5),
    Bucket.FIFTEEN_MINUTES: timedelta(minutes=15),
    Bucket.HOUR: timedelta(hours=1),
    Bucket.SIX_HOURS: timedelta(hours=6),
}
_FINEST_FIRST = (
    Bucket.RAW,
    Bucket.MINUTE,
    Bucket.FIVE_MINUTES,
    Bucket.FIFTEEN_MINUTES,
    Bucket.HOUR,
    Bucket.SIX_HOURS,
    Bucket.DAY,
)


@dataclass(frozen=True, slots=True)
class _Grid:
    """How one bucket size cuts time, identically in the database and in Python.

    Minutes (1, 5, 15) and hours (1, 6) are cut in UTC whenever the zone's offsets are whole
    buckets during the period: the same boundaries, and the repeated hour at the end of summer
    time stays two buckets instead of being merged by its local name. Otherwise, and for days,
    they are cut in the zone (6 hours from local midnight).
    """

    bucket: Bucket
    zone: ZoneInfo
    # The zone's UTC offsets over the period (db_functions.zone_offsets), for ZoneTrunc.
    offsets: Offsets

    @classmethod
    def of(cls, bucket: Bucket, tz: ZoneInfo, start: datetime, end: datetime) -> _Grid:
        # RAW keys are instants: UTC keeps them in order across a repeated local hour.
        if bucket is Bucket.RAW:
            return cls(bucket, ZoneInfo("UTC"), ((start, 0),))
        offsets = zone_offsets(tz, start, end)
        if bucket in _UNIT:
            unit = int(_UNIT[bucket].total_seconds())
            if all(seconds % unit == 0 for _, seconds in offsets):
                return cls(bucket, ZoneInfo("UTC"), ((start, 0),))
        return cls(bucket, tz, offsets)

    def expression(self, field: str) -> Expression:
        if self.bucket is Bucket.RAW:
            return F(field)
        return ZoneTrunc(field, kind=self.bucket.value, tzinfo=self.zone, offsets=self.offsets)

    def key(self, moment: datetime) -> datetime:
        """The wall time (naive, in `zone`) of the bucket holding `moment`, as the database
        computes it; RAW: the moment itself in UTC."""
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        match self.bucket:
            case Bucket.RAW:
                return local
            case Bucket.MINUTE:
                return local.replace(second=0, microsecond=0)
            case Bucket.FIVE_MINUTES | Bucket.FIFTEEN_MINUTES:
                minute = local.minute - local.minute % (_UNIT[self.bucket] // timedelta(minutes=1))
                return local.replace(minute=minute, second=0, microsecond=0)
            case Bucket.HOUR:
                return local.replace(minute=0, second=0, microsecond=0)
            case Bucket.SIX_HOURS:
                hour = local.hour - local.hour % 6
                return local.replace(hour=hour, minute=0, second=0, microsecond=0)
            case _:
                return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def wall(self, bucket_time: datetime) -> datetime:
        """The key of a bucket time the database returned (aware)."""
        return bucket_time.astimezone(self.zone).replace(tzinfo=None)

    def slots(self, first: datetime, last: datetime) -> int | None:
        """How many buckets [first, last] touches at most (None for RAW: unknown)."""
        a, b = self.key(first), self.key(last)
        if b < a:
            return 0
        match self.bucket:
            case Bucket.RAW:
                return None
            case Bucket.DAY:
                return (b.date() - a.date()).days + 1
            case _:
                return (b - a) // _UNIT[self.bucket] + 1


@dataclass(frozen=True, slots=True)
class _History:
    """Cheap facts about the period, read before anything is fetched."""

    snapshots: int
    first: datetime | None
    last: datetime | None
    offer_count_sum: int  # Σ offer_count: about how many (offer, snapshot) pairs there are
    # Offers seen in the period, longest-present first, at most MAX_TREND_POINTS + 1 of them.
    offers: list[_SeenOffer]

    @property
    def too_many_offers(self) -> bool:
        return len(self.offers) > MAX_TREND_POINTS


@dataclass(frozen=True, slots=True)
class _SeenOffer:
    pk: int
    offer_id: uuid.UUID
    first_seen_at: datetime
    last_seen_at: datetime


def _snapshots_in(product: Product, start: datetime, end: datetime) -> QuerySet:
    return ProductSnapshot.objects.filter(product=product, taken_at__gte=start, taken_at__lt=end)


def _offers_seen_in(product: Product, start: datetime, end: datetime) -> QuerySet:
    # Present at some time in [start, end): first seen before its end, last seen after its start.
    return Offer.objects.filter(product=product, first_seen_at__lt=end, last_seen_at__gte=start)


def _history(product: Product, start: datetime, end: datetime, *, include_offers: bool) -> _History:
    facts = _snapshots_in(product, start, end).aggregate(
        n=Count("id"), first=Min("taken_at"), last=Max("taken_at"), offers=Sum("offer_count")
    )
    offers: list[_SeenOffer] = []
    if include_offers and facts["n"]:
        presence = ExpressionWrapper(
            Least("last_seen_at", Value(end, output_field=DateTimeField()))
            - Greatest("first_seen_at", Value(start, output_field=DateTimeField())),
            output_field=DurationField(),
        )
        rows = (
            _offers_seen_in(product, start, end)
            .order_by(presence.desc(), "offer_id")
            .values_list("pk", "offer_id", "first_seen_at", "last_seen_at")[: MAX_TREND_POINTS + 1]
        )
        offers = [_SeenOffer(*row) for row in rows]
    return _History(facts["n"], facts["first"], facts["last"], facts["offers"] or 0, offers)


def _estimate_product(grid: _Grid, history: _History) -> int:
    """An upper bound of the product points (buckets holding a snapshot)."""
    if not history.snapshots:
        return 0
    slots = grid.slots(history.first, history.last)
    return history.snapshots if slots is None else min(history.snapshots, slots)


def _estimate_offer(grid: _Grid, history: _History, offer: _SeenOffer, product_points: int) -> int:
    """An upper bound of one offer's points: the product buckets within its presence."""
    if not history.snapshots:
        return 0
    slots = grid.slots(
        max(offer.first_seen_at, history.first), min(offer.last_seen_at, history.last)
    )
    return product_points if slots is None else min(product_points, slots)


@dataclass(frozen=True, slots=True)
class _Plan:
    grid: _Grid
    offers: list[_SeenOffer]
    truncated: bool


def _estimate(grid: _Grid, history: _History, *, include_offers: bool) -> tuple[int, int]:
    """(product values, per-offer points): upper bounds before fetching (offer points: exact
    upper bound when every offer is listed, and also at most Σ offer_count)."""
    product = _estimate_product(grid, history)
    if not include_offers:
        return SERIES_PER_TREND_POINT * product, 0
    offers = sum(_estimate_offer(grid, history, o, product) for o in history.offers)
    return SERIES_PER_TREND_POINT * product, min(offers, history.offer_count_sum)


def _plan(
    bucket: Bucket,
    history: _History,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    include_offers: bool,
    finer_than_allowed: Bucket | None = None,
) -> _Plan:
    """Choose the bucket (and for AUTO, which per-offer lines) from the estimates."""
    grids = {b: _Grid.of(b, tz, start, end) for b in _FINEST_FIRST}
    totals: dict[Bucket, tuple[int, bool]] = {}  # bucket → (estimate, fits)
    # With more offers than the cap, no bucket can draw each of them even once.
    too_many = include_offers and history.too_many_offers
    for candidate in _FINEST_FIRST:
        product, offers = _estimate(grids[candidate], history, include_offers=include_offers)
        total = product + offers
        totals[candidate] = (total, not too_many and total <= MAX_TREND_POINTS)
    allowed = _FINEST_FIRST
    if finer_than_allowed is not None:  # a retry after an estimate proved too low
        allowed = _FINEST_FIRST[_FINEST_FIRST.index(finer_than_allowed) + 1 :]
    fitting = next((b for b in allowed if totals[b][1]), None)
    if bucket is not Bucket.AUTO:
        total, fits = totals[bucket]
        if not fits:
            raise TrendTooLarge(
                bucket=bucket,
                points=total,
                cap=MAX_TREND_POINTS,
                fits=fitting,
                fits_points=totals[fitting][0] if fitting else None,
                at_least=too_many,
                offers_dropped_fit=_day_product_fits(grids[Bucket.DAY], history),
            )
        return _Plan(grids[bucket], history.offers if include_offers else [], False)
    if not history.snapshots:
        return _Plan(grids[Bucket.RAW], [], False)
    if fitting is not None:
        return _Plan(grids[fitting], history.offers if include_offers else [], False)
    if not _day_product_fits(grids[Bucket.DAY], history):
        total = totals[Bucket.DAY][0]
        raise TrendTooLarge(
            bucket=Bucket.DAY, points=total, cap=MAX_TREND_POINTS, fits=None, at_least=False
        )
    # Day buckets, and the per-offer lines with the most points that fit beside the product's.
    grid = grids[Bucket.DAY]
    product_points = _estimate_product(grid, history)
    budget = MAX_TREND_POINTS - SERIES_PER_TREND_POINT * product_points
    ranked = sorted(
        history.offers,
        key=lambda o: -_estimate_offer(grid, history, o, product_points),
    )
    kept = []
    for offer in ranked:
        cost = _estimate_offer(grid, history, offer, product_points)
        if cost <= budget:
            kept.append(offer)
            budget -= cost
    return _Plan(grid, kept, True)


def _day_product_fits(grid: _Grid, history: _History) -> bool:
    return SERIES_PER_TREND_POINT * _estimate_product(grid, history) <= MAX_TREND_POINTS


def _product_points(
    product: Product, grid: _Grid, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[list[TrendPoint], list[datetime]]:
    """The product series and the database's bucket times (for matching the offers' keys)."""
    snapshots = _snapshots_in(product, start, end)
    if grid.bucket is Bucket.RAW:
        rows = snapshots.order_by("taken_at", "id").values_list(
            "taken_at",
            "mean_price",
            "weighted_mean_price",
            "min_price",
            "max_price",
            "offer_count",
            "total_stock",
        )
    else:
        rows = (
            snapshots.annotate(at=grid.expression("taken_at"))
            .values("at")
            .annotate(
                mean=Avg("mean_price"),
                weighted=Avg("weighted_mean_price"),
                low=Min("min_price"),
                high=Max("max_price"),
                offers=Avg("offer_count"),
                stock=Avg("total_stock"),
            )
            .order_by("at")
            .values_list("at", "mean", "weighted", "low", "high", "offers", "stock")
        )
    points, times = [], []
    for at, mean, weighted, low, high, offers, stock in rows:
        times.append(at)
        points.append(
            TrendPoint(
                at=at.astimezone(tz),
                mean=mean,
                weighted_mean=weighted,
                min=low,
                max=high,
                offer_count=round(offers),
                total_stock=round(stock),
            )
        )
    return points, times


def _offer_series(
    product: Product,
    plan: _Plan,
    times: list[datetime],
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
) -> list[OfferSeries]:
    """Each planned offer's price at the product's bucket times, carried forward (two queries).

    The database gives the last observation per (offer, bucket) within the period, and the last
    price before the period of the offers that carry one into it; Python only walks those
    already-bucketed rows forward over the bucket times.
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
        carry = {
            pk: price
            for pk, price in Offer.objects.filter(pk__in=carried_in)
            .order_by()
            .annotate(price_before=Subquery(before))
            .values_list("pk", "price_before")
            if price is not None
        }
    bucket_of = grid.expression("observed_at")
    observations = OfferObservation.objects.filter(
        product=product, observed_at__gte=start, observed_at__lt=end
    )
    if plan.truncated:
        observations = observations.filter(offer_id__in=list(offers))
    last_in_bucket = (
        observations.annotate(
            at=bucket_of,
            rank=Window(
                RowNumber(),
                partition_by=[F("offer_id"), grid.expression("observed_at")],
                order_by=[F("observed_at").desc(), F("id").desc()],
            ),
        )
        .filter(rank=1)
        .values_list("offer_id", "at", "price")
    )
    changes: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for pk, at, price in last_in_bucket:
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
    series.sort(key=lambda s: (s.points[0][0], s.offer_id))
    return series


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
    first; bucket times are aware datetimes in `tz` (day buckets start at local midnight in
    `tz`, whatever time zone is active). Per-offer series (include_offers): the offers seen in
    the period, their prices at the same buckets carried forward until last seen (OfferSeries).

    Size: point_count never exceeds MAX_TREND_POINTS. Cheap counts estimate it first. AUTO takes
    the finest bucket that fits; if even day buckets do not fit with every per-offer line, it
    keeps the offers with the most points that fit and sets offers_truncated. An explicit
    bucket that does not fit raises TrendTooLarge (a ValueError) saying which one would; so
    does AUTO when even day buckets without offers do not fit (periods of over ~3 years).
    An empty period (no snapshot) gives no points and change None. Raises ValueError for naive
    datetimes or end <= start. At most six queries whatever the size of the history (nine if
    the estimate ever came out too low and a coarser bucket is fetched).
    """
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc <= start_utc:
        raise ValueError(f"end ({end}) must be after start ({start})")
    bucket = Bucket(bucket)
    history = _history(product, start_utc, end_utc, include_offers=include_offers)
    change = price_change(product=product, start=start_utc, end=end_utc)
    retry_after: Bucket | None = None
    while True:
        plan = _plan(
            bucket,
            history,
            tz,
            start_utc,
            end_utc,
            include_offers=include_offers,
            finer_than_allowed=retry_after,
        )
        points, times = _product_points(product, plan.grid, start_utc, end_utc, tz)
        offers = _offer_series(product, plan, times, start_utc, end_utc, tz)
        trend = Trend(
            start=start_utc.astimezone(tz),
            end=end_utc.astimezone(tz),
            bucket=plan.grid.bucket,
            tz=tz,
            points=points,
            offers=offers,
            change=change,
            offers_truncated=plan.truncated,
        )
        if trend.point_count <= MAX_TREND_POINTS:
            return trend
        # The estimates are meant as upper bounds (the sync observes every return of an offer);
        # checking the real count keeps the cap a guarantee whatever the history holds.
        if bucket is not Bucket.AUTO:
            raise TrendTooLarge(
                bucket=bucket,
                points=trend.point_count,
                cap=MAX_TREND_POINTS,
                fits=None,
                offers_dropped_fit=bool(trend.offers),
            )
        if plan.grid.bucket is not Bucket.DAY:
            retry_after = plan.grid.bucket
            continue
        return _drop_offer_lines(trend)


def _drop_offer_lines(trend: Trend) -> Trend:
    """Keep the per-offer lines with the most points that fit beside the product series."""
    budget = MAX_TREND_POINTS - SERIES_PER_TREND_POINT * len(trend.points)
    kept = []
    for offer in sorted(trend.offers, key=lambda o: -len(o.points)):
        if len(offer.points) <= budget:
            kept.append(offer)
            budget -= len(offer.points)
    kept.sort(key=lambda s: (s.points[0][0], s.offer_id))
    return Trend(
        start=trend.start,
        end=trend.end,
        bucket=trend.bucket,
        tz=trend.tz,
        points=trend.points,
        offers=kept,
        change=trend.change,
        offers_truncated=True,
    )


# --- Sync runs -----------------------------------------------------------------------------------


def latest_sync_run() -> SyncRun | None:
    """The most recently started sync run (finished or not), or None before the first."""
    return SyncRun.objects.order_by("-started_at", "-id").first()
