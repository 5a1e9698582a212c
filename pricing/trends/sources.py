"""Where a trend reads each part of its period: the raw rows, or the hourly or daily roll-ups.

A period is cut into pieces (history_pieces): the whole UTC days in its middle from the daily
roll-ups, the whole hours around them from the hourly ones, and the minutes at either edge from
the raw rows. A roll-up serves a bucket only when the bucket's boundaries are its boundaries:
hours for hour buckets and coarser in zones whose offsets are whole hours, days for day buckets
and coarser in UTC. Before the raw history's horizon (pricing.retention) only roll-ups are
left: there the hourly ones serve every zone, and in a zone with a half-hour offset an hour
counts in the bucket its start falls in.

Each reader here asks every piece in one statement (UNION ALL) and combines the pieces' rows in
Python with the roll-ups' own rule (pricing.rollups.Totals): the answer is the one the raw rows
would give, bucket for bucket, at the cost of a few hundred rows instead of half a million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db.models import Count, F, Max, Min, QuerySet, Sum, Window
from django.db.models.functions import RowNumber

from pricing.models import (
    ObservationRollup,
    OfferObservation,
    ProductSnapshot,
    RollupSpan,
    SnapshotRollup,
)
from pricing.rollups import SPAN_LENGTH, Totals, span_ceil, span_start
from pricing.trends.buckets import FINEST_FIRST, Bucket, BucketGrid
from products.models import Product


class Source(StrEnum):
    RAW = "raw"
    HOUR = RollupSpan.HOUR.value
    DAY = RollupSpan.DAY.value


@dataclass(frozen=True, slots=True)
class Piece:
    source: Source
    start: datetime
    end: datetime


def _whole(span: RollupSpan, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole spans within [start, end), if any."""
    first, last = span_ceil(span, start), span_start(span, end)
    return (first, last) if first < last else None


def _aligned(grid: BucketGrid | None, span: RollupSpan) -> bool:
    """Whether every bucket of `grid` is made of whole `span`s (None: no buckets, counts only)."""
    if grid is None:
        return True
    coarsest_within = {RollupSpan.HOUR: Bucket.HOUR, RollupSpan.DAY: Bucket.DAY}[span]
    if FINEST_FIRST.index(grid.bucket) < FINEST_FIRST.index(coarsest_within):
        return False
    unit = int(SPAN_LENGTH[span].total_seconds())
    return all(seconds % unit == 0 for _, seconds in grid.offsets)


def history_pieces(
    start: datetime, end: datetime, *, grid: BucketGrid | None, horizon: datetime | None
) -> list[Piece]:
    """[start, end) (aware, UTC) cut into the pieces to read for `grid`'s buckets (None: for
    counts, which any piece serves), given the raw history's horizon (None: raw rows are
    whole). Pieces are in time order and do not overlap."""
    if not _aligned(grid, RollupSpan.HOUR):
        if horizon is None or start >= horizon or grid.bucket is Bucket.RAW:
            return [Piece(Source.RAW, max(start, horizon or start), end)]
        # Before the horizon only hours are left, even where they straddle this zone's buckets.
        hours = _whole(RollupSpan.HOUR, start, min(end, horizon))
        raw = [Piece(Source.RAW, horizon, end)] if horizon < end else []
        return ([Piece(Source.HOUR, *hours)] if hours else []) + raw
    hours = _whole(RollupSpan.HOUR, start, end)
    if hours is None:
        pieces = [Piece(Source.RAW, start, end)]
    else:
        middle = [Piece(Source.HOUR, *hours)]
        days = _whole(RollupSpan.DAY, *hours) if _aligned(grid, RollupSpan.DAY) else None
        if days is not None:
            middle = [
                Piece(Source.HOUR, hours[0], days[0]),
                Piece(Source.DAY, *days),
                Piece(Source.HOUR, days[1], hours[1]),
            ]
        pieces = [Piece(Source.RAW, start, hours[0]), *middle, Piece(Source.RAW, hours[1], end)]
    if horizon is not None:
        # The raw rows before the horizon are gone (or going): those minutes are lost.
        pieces = [
            Piece(p.source, max(p.start, horizon), p.end) if p.source is Source.RAW else p
            for p in pieces
        ]
    return [p for p in pieces if p.start < p.end]


def finest_bucket(start: datetime, horizon: datetime | None) -> Bucket:
    """The finest bucket a period from `start` can have: raw snapshots only where they are
    kept; before the horizon, hours."""
    return Bucket.RAW if horizon is None or start >= horizon else Bucket.HOUR


# --- Readers -------------------------------------------------------------------------------------


def _snapshots(product: Product, piece: Piece) -> QuerySet:
    return ProductSnapshot.objects.filter(
        product=product, taken_at__gte=piece.start, taken_at__lt=piece.end
    ).order_by()


def _rollups(product: Product, piece: Piece) -> QuerySet:
    return SnapshotRollup.objects.filter(
        product=product,
        span=piece.source.value,
        starts_at__gte=piece.start,
        starts_at__lt=piece.end,
    ).order_by()


def _union(querysets: Sequence[QuerySet], *, order: str) -> list[tuple]:
    """The rows of every queryset, in one statement. `order`: a column they select (a union
    is otherwise ordered by its first model's Meta.ordering, which it does not select)."""
    if not querysets:
        return []
    first, *others = querysets
    return list(first.union(*others, all=True).order_by(order)) if others else list(first)


@dataclass(frozen=True, slots=True)
class Counts:
    """The snapshots of a period: how many, the first and last times, Σ offer_count."""

    snapshots: int
    first: datetime | None
    last: datetime | None
    offer_count_sum: int


def snapshot_counts(product: Product, pieces: Sequence[Piece]) -> Counts:
    """One query."""
    querysets = []
    for piece in pieces:
        if piece.source is Source.RAW:
            rows = (
                _snapshots(product, piece)
                .values("product")
                .annotate(
                    n=Count("id"),
                    first=Min("taken_at"),
                    last=Max("taken_at"),
                    offers=Sum("offer_count"),
                )
            )
        else:
            rows = (
                _rollups(product, piece)
                .values("product")
                .annotate(
                    n=Sum("snapshots"),
                    first=Min("first_at"),
                    last=Max("last_at"),
                    offers=Sum("offer_count_sum"),
                )
            )
        querysets.append(rows.values_list("n", "first", "last", "offers"))
    rows = [row for row in _union(querysets, order="n") if row[0]]
    if not rows:
        return Counts(0, None, None, 0)
    return Counts(
        snapshots=sum(int(n) for n, *_ in rows),
        first=min(first for _, first, _, _ in rows),
        last=max(last for _, _, last, _ in rows),
        offer_count_sum=sum(int(offers or 0) for *_, offers in rows),
    )


def bucket_sums(
    product: Product, grid: BucketGrid, pieces: Sequence[Piece]
) -> list[tuple[datetime, Totals]]:
    """(bucket time as the database gives it, the bucket's sums), oldest first. One query."""
    querysets = []
    for piece in pieces:
        if piece.source is Source.RAW:
            rows = _snapshots(product, piece).annotate(at=grid.expression("taken_at"))
            rows = rows.values("at").annotate(
                n=Count("id"),
                mean_sum=Sum("mean_price"),
                mean_count=Count("mean_price"),
                weighted_sum=Sum("weighted_mean_price"),
                weighted_count=Count("weighted_mean_price"),
                low=Min("min_price"),
                high=Max("max_price"),
                offers=Sum("offer_count"),
                stock=Sum("total_stock"),
            )
        else:
            rows = _rollups(product, piece).annotate(at=grid.expression("starts_at"))
            rows = rows.values("at").annotate(
                n=Sum("snapshots"),
                mean_sum=Sum("mean_sum"),
                mean_count=Sum("mean_count"),
                weighted_sum=Sum("weighted_mean_sum"),
                weighted_count=Sum("weighted_mean_count"),
                low=Min("min_price"),
                high=Max("max_price"),
                offers=Sum("offer_count_sum"),
                stock=Sum("total_stock_sum"),
            )
        querysets.append(
            rows.values_list(
                "at",
                "n",
                "mean_sum",
                "mean_count",
                "weighted_sum",
                "weighted_count",
                "low",
                "high",
                "offers",
                "stock",
            )
        )
    buckets: dict[datetime, Totals] = {}
    for at, n, mean_sum, mean_count, w_sum, w_count, low, high, offers, stock in _union(
        querysets, order="at"
    ):
        sums = Totals(
            int(n),
            float(mean_sum or 0.0),
            int(mean_count),
            float(w_sum or 0.0),
            int(w_count),
            None if low is None else int(low),
            None if high is None else int(high),
            int(offers),
            int(stock),
        )
        buckets[at] = buckets[at].merge(sums) if at in buckets else sums
    return sorted(buckets.items(), key=lambda item: item[0])


def each_snapshot(
    product: Product, start: datetime, end: datetime
) -> list[tuple[datetime, Totals]]:
    """(taken_at, the snapshot as a bucket of one), oldest first: RAW buckets. One query."""
    rows = (
        ProductSnapshot.objects.filter(product=product, taken_at__gte=start, taken_at__lt=end)
        .order_by("taken_at", "id")
        .values_list(
            "taken_at",
            "mean_price",
            "weighted_mean_price",
            "min_price",
            "max_price",
            "offer_count",
            "total_stock",
        )
    )
    return [(taken_at, Totals.of_figures(*figures)) for taken_at, *figures in rows]


def last_prices(
    product: Product,
    grid: BucketGrid,
    pieces: Sequence[Piece],
    offer_pks: Sequence[int] | None,
) -> dict[tuple[int, datetime], int]:
    """(offer pk, bucket time as the database gives it) → the offer's last price observed in
    the bucket, for the offers in `offer_pks` (all when None). One query."""
    querysets = []
    for piece in pieces:
        if piece.source is Source.RAW:
            rows = OfferObservation.objects.filter(
                product=product, observed_at__gte=piece.start, observed_at__lt=piece.end
            )
            time, at = "observed_at", grid.expression("observed_at")
        else:
            rows = ObservationRollup.objects.filter(
                product=product,
                span=piece.source.value,
                starts_at__gte=piece.start,
                starts_at__lt=piece.end,
            )
            time, at = "last_at", grid.expression("starts_at")
        if offer_pks is not None:
            rows = rows.filter(offer_id__in=offer_pks)
        rows = rows.order_by().annotate(at=at)
        if piece.source.value != grid.bucket.value or not _aligned(grid, RollupSpan.HOUR):
            # The last row of each (offer, bucket); roll-ups of the bucket's own size already
            # are one row each.
            rank = Window(
                RowNumber(),
                partition_by=[F("offer_id"), at],
                order_by=[F(time).desc(), F("id").desc()],
            )
            rows = rows.annotate(rank=rank).filter(rank=1)
        # RAW buckets are the observations' own times: "at" is already that column.
        seen = () if grid.bucket is Bucket.RAW else (time,)
        querysets.append(rows.values_list("offer_id", "at", *seen, "price"))
    latest: dict[tuple[int, datetime], tuple[datetime, int]] = {}
    for pk, at, *rest in _union(querysets, order="at"):
        seen, price = (at, *rest) if len(rest) == 1 else rest
        key = (pk, at)
        if key not in latest or seen >= latest[key][0]:
            latest[key] = (seen, price)
    return {key: price for key, (_, price) in latest.items()}


__all__ = [
    "Counts",
    "Piece",
    "Source",
    "bucket_sums",
    "each_snapshot",
    "finest_bucket",
    "history_pieces",
    "last_prices",
    "snapshot_counts",
]
