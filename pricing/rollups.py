"""Roll-ups: each product's snapshots, and each offer's last observed price, by UTC hour and day.

The sync adds every snapshot and observation it writes to its hour and its day in the same
transaction (rollups_add), so a roll-up can neither miss a row nor count one twice, whenever
the sync runs and however often it is retried: a batch that fails rolls back its roll-ups with
its rows. rollups_rebuild computes them from the raw rows instead: for the migration that
introduced them, and for tests that write history straight to the database.

A row holds sums and counts, never averages (Sums), so rows combine exactly into any coarser
bucket: the trend engine (pricing.trends) and the percentage change (pricing.statistics) read
them where the raw rows are too many or already pruned (pricing.retention).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import batched
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, F, Max, Min, Sum, Window
from django.db.models.functions import RowNumber

from pricing.db_functions import ZoneTrunc
from pricing.models import (
    ObservationRollup,
    OfferObservation,
    ProductSnapshot,
    RollupSpan,
    SnapshotRollup,
)

SPAN_LENGTH = {RollupSpan.HOUR: timedelta(hours=1), RollupSpan.DAY: timedelta(days=1)}
# Ids per IN (...) list: far below SQLite's limit on a statement's variables.
IDS_PER_QUERY = 500
_UTC = ZoneInfo("UTC")


def span_start(span: RollupSpan, moment: datetime) -> datetime:
    """The start (aware, UTC) of the UTC hour or day holding `moment`."""
    moment = moment.astimezone(UTC)
    if span is RollupSpan.DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def span_ceil(span: RollupSpan, moment: datetime) -> datetime:
    """The first boundary of `span` at or after `moment`."""
    start = span_start(span, moment)
    return start if start == moment else start + SPAN_LENGTH[span]


@dataclass(frozen=True, slots=True)
class Totals:
    """Snapshots summed: counts and sums add, min and max take the lower and higher. What a
    bucket of any size holds (pricing.trends.sources); a roll-up row adds its ends (Sums)."""

    snapshots: int
    mean_sum: float
    mean_count: int
    weighted_mean_sum: float
    weighted_mean_count: int
    min_price: int | None
    max_price: int | None
    offer_count_sum: int
    total_stock_sum: int

    @classmethod
    def of_figures(cls, mean, weighted, low, high, offers, stock) -> Totals:
        """One snapshot's figures (its mean, weighted mean, min, max, offer count, stock)."""
        return Totals(
            1,
            mean or 0.0,
            int(mean is not None),
            weighted or 0.0,
            int(weighted is not None),
            low,
            high,
            offers,
            stock,
        )

    def merged_totals(self, other: Totals) -> dict:
        return {
            "snapshots": self.snapshots + other.snapshots,
            "mean_sum": self.mean_sum + other.mean_sum,
            "mean_count": self.mean_count + other.mean_count,
            "weighted_mean_sum": self.weighted_mean_sum + other.weighted_mean_sum,
            "weighted_mean_count": self.weighted_mean_count + other.weighted_mean_count,
            "min_price": _extreme(min, self.min_price, other.min_price),
            "max_price": _extreme(max, self.max_price, other.max_price),
            "offer_count_sum": self.offer_count_sum + other.offer_count_sum,
            "total_stock_sum": self.total_stock_sum + other.total_stock_sum,
        }

    def merge(self, other: Totals) -> Totals:
        return Totals(**self.merged_totals(other))


@dataclass(frozen=True, slots=True)
class Sums(Totals):
    """A roll-up row's figures: the columns of a SnapshotRollup, one for one.

    Combining two is exact and order-free (merge): Totals', and first and last the earlier and
    later snapshot (on a tie, the one merged into, then the one merged: the order the rows
    were written, as (taken_at, id) orders them).
    """

    first_at: datetime
    first_mean: float | None
    last_at: datetime
    last_mean: float | None

    @classmethod
    def of_snapshot(cls, snapshot: ProductSnapshot) -> Sums:
        totals = Totals.of_figures(
            snapshot.mean_price,
            snapshot.weighted_mean_price,
            snapshot.min_price,
            snapshot.max_price,
            snapshot.offer_count,
            snapshot.total_stock,
        )
        at, mean = snapshot.taken_at, snapshot.mean_price
        return cls(*astuple(totals), first_at=at, first_mean=mean, last_at=at, last_mean=mean)

    @classmethod
    def of_row(cls, row: SnapshotRollup) -> Sums:
        return cls(*(getattr(row, name) for name in SUMS_FIELDS))

    def merge(self, other: Sums) -> Sums:
        first = other if other.first_at < self.first_at else self
        last = other if other.last_at >= self.last_at else self
        return Sums(
            **self.merged_totals(other),
            first_at=first.first_at,
            first_mean=first.first_mean,
            last_at=last.last_at,
            last_mean=last.last_mean,
        )

    def as_row(self, *, product_id: uuid.UUID, span: RollupSpan, starts_at: datetime):
        return SnapshotRollup(
            product_id=product_id, span=span, starts_at=starts_at, **self.columns()
        )

    def columns(self) -> dict:
        return dict(zip(SUMS_FIELDS, astuple(self), strict=True))


SUMS_FIELDS = tuple(field.name for field in fields(Sums))


def _extreme(pick: Callable, a: int | None, b: int | None) -> int | None:
    """min or max of two prices, either of which may be undefined (None)."""
    if a is None or b is None:
        return a if b is None else b
    return pick(a, b)


@dataclass(frozen=True, slots=True)
class LastPrice:
    """An offer's last observation in a span: the columns of an ObservationRollup."""

    product_id: uuid.UUID
    last_at: datetime
    price: int

    def later(self, other: LastPrice) -> LastPrice:
        return other if other.last_at >= self.last_at else self


# --- Kept up to date by the sync -----------------------------------------------------------------


def rollups_add(
    *, snapshots: Sequence[ProductSnapshot], observations: Sequence[OfferObservation]
) -> None:
    """Add rows just written to their hours and days, in the caller's transaction.

    Four queries whatever the number of rows (more only past IDS_PER_QUERY products or offers):
    the affected roll-ups are read, combined with the new rows in Python (Sums.merge, the one
    combining rule), and written back with one upsert per table. The caller holds the products'
    rows locked (pricing.sync's fence), so no other writer touches these roll-ups meanwhile.
    """
    with transaction.atomic(savepoint=False):
        _add_snapshots(snapshots)
        _add_observations(observations)


def _add_snapshots(snapshots: Sequence[ProductSnapshot]) -> None:
    wanted: dict[tuple, Sums] = {}
    for snapshot in snapshots:
        sums = Sums.of_snapshot(snapshot)
        for span in RollupSpan:
            key = (snapshot.product_id, span.value, span_start(span, snapshot.taken_at))
            wanted[key] = wanted[key].merge(sums) if key in wanted else sums
    if not wanted:
        return
    starts = {start for _, _, start in wanted}
    for chunk in batched({product_id for product_id, _, _ in wanted}, IDS_PER_QUERY):
        for row in SnapshotRollup.objects.filter(product_id__in=chunk, starts_at__in=starts):
            key = (row.product_id, row.span, row.starts_at)
            if key in wanted:
                wanted[key] = Sums.of_row(row).merge(wanted[key])
    SnapshotRollup.objects.bulk_create(
        [
            sums.as_row(product_id=product_id, span=span, starts_at=start)
            for (product_id, span, start), sums in wanted.items()
        ],
        update_conflicts=True,
        unique_fields=["product", "span", "starts_at"],
        update_fields=list(SUMS_FIELDS),
    )


def _add_observations(observations: Sequence[OfferObservation]) -> None:
    wanted: dict[tuple, LastPrice] = {}
    for observation in observations:
        last = LastPrice(observation.product_id, observation.observed_at, observation.price)
        for span in RollupSpan:
            key = (observation.offer_id, span.value, span_start(span, observation.observed_at))
            wanted[key] = wanted[key].later(last) if key in wanted else last
    if not wanted:
        return
    starts = {start for _, _, start in wanted}
    for chunk in batched({offer_id for offer_id, _, _ in wanted}, IDS_PER_QUERY):
        rows = ObservationRollup.objects.filter(offer_id__in=chunk, starts_at__in=starts)
        for row in rows:
            key = (row.offer_id, row.span, row.starts_at)
            if key in wanted:
                kept = LastPrice(row.product_id, row.last_at, row.price)
                wanted[key] = kept.later(wanted[key])
    _write_observation_rollups(wanted, update=True)


def _write_observation_rollups(rows: dict[tuple, LastPrice], *, update: bool) -> None:
    upsert = (
        {
            "update_conflicts": True,
            "unique_fields": ["offer", "span", "starts_at"],
            "update_fields": ["last_at", "price"],
        }
        if update
        else {}
    )
    ObservationRollup.objects.bulk_create(
        [
            ObservationRollup(
                offer_id=offer_id,
                product_id=last.product_id,
                span=span,
                starts_at=start,
                last_at=last.last_at,
                price=last.price,
            )
            for (offer_id, span, start), last in rows.items()
        ],
        batch_size=5000,
        **upsert,
    )


# --- Rebuilt from the raw rows -------------------------------------------------------------------


def rollups_rebuild(
    *,
    product_ids: Iterable[uuid.UUID] | None = None,
    since: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Compute the roll-ups of these products (all when None) from their raw rows again, from
    the day holding `since` (from the start when None), replacing what was there.

    Only where the raw rows are whole: never before the raw history's horizon (what
    pricing.retention pruned is known only to the roll-ups). Products a chunk at a time, each
    chunk in its own transaction; `progress(n)` is called after each chunk of n products.
    """
    from pricing.retention import raw_history_since  # retention builds on this module

    horizon = raw_history_since()
    floor = max(filter(None, (since, horizon)), default=None)
    if floor is not None:
        floor = span_start(RollupSpan.DAY, floor)
    if product_ids is None:
        ids = ProductSnapshot.objects.order_by().values_list("product_id", flat=True).distinct()
        product_ids = sorted(set(ids))
    for chunk in batched(list(product_ids), 20):
        with transaction.atomic():
            _rebuild_snapshots(chunk, floor)
            _rebuild_observations(chunk, floor)
        if progress:
            progress(len(chunk))


def _hour(field: str) -> ZoneTrunc:
    return ZoneTrunc(
        field, kind="hour", tzinfo=_UTC, offsets=((datetime.min.replace(tzinfo=UTC), 0),)
    )


def _rebuild_snapshots(product_ids: Sequence[uuid.UUID], floor: datetime | None) -> None:
    raw = ProductSnapshot.objects.filter(product_id__in=product_ids)
    old = SnapshotRollup.objects.filter(product_id__in=product_ids)
    if floor is not None:
        raw, old = raw.filter(taken_at__gte=floor), old.filter(starts_at__gte=floor)
    old.delete()
    hours = (
        raw.annotate(hour=_hour("taken_at"))
        .values("product_id", "hour")
        .annotate(
            snapshots=Count("id"),
            mean_sum=Sum("mean_price", default=0.0),
            mean_count=Count("mean_price"),
            weighted_mean_sum=Sum("weighted_mean_price", default=0.0),
            weighted_mean_count=Count("weighted_mean_price"),
            min_price=Min("min_price"),
            max_price=Max("max_price"),
            offer_count_sum=Sum("offer_count"),
            total_stock_sum=Sum("total_stock"),
            first_at=Min("taken_at"),
            last_at=Max("taken_at"),
        )
        .order_by()
    )
    ends = {}
    # The first and the last snapshot of each hour, as (taken_at, id) orders them.
    for which, order in (
        ("first", [F("taken_at").asc(), F("id").asc()]),
        ("last", [F("taken_at").desc(), F("id").desc()]),
    ):
        ranked = raw.annotate(
            hour=_hour("taken_at"),
            rank=Window(
                RowNumber(), partition_by=[F("product_id"), _hour("taken_at")], order_by=order
            ),
        ).filter(rank=1)
        for product_id, hour, mean in ranked.values_list("product_id", "hour", "mean_price"):
            ends[(which, product_id, hour.astimezone(UTC))] = mean
    by_hour: dict[tuple, Sums] = {}
    for row in hours:
        product_id, hour = row.pop("product_id"), row.pop("hour").astimezone(UTC)
        by_hour[(product_id, hour)] = Sums(
            **row,
            first_mean=ends[("first", product_id, hour)],
            last_mean=ends[("last", product_id, hour)],
        )
    by_day: dict[tuple, Sums] = {}
    for (product_id, hour), sums in sorted(by_hour.items(), key=lambda item: item[0][1]):
        key = (product_id, span_start(RollupSpan.DAY, hour))
        by_day[key] = by_day[key].merge(sums) if key in by_day else sums
    SnapshotRollup.objects.bulk_create(
        [
            *(
                s.as_row(product_id=p, span=RollupSpan.HOUR, starts_at=h)
                for (p, h), s in by_hour.items()
            ),
            *(
                s.as_row(product_id=p, span=RollupSpan.DAY, starts_at=d)
                for (p, d), s in by_day.items()
            ),
        ],
        batch_size=5000,
    )


def _rebuild_observations(product_ids: Sequence[uuid.UUID], floor: datetime | None) -> None:
    raw = OfferObservation.objects.filter(product_id__in=product_ids)
    old = ObservationRollup.objects.filter(product_id__in=product_ids)
    if floor is not None:
        raw, old = raw.filter(observed_at__gte=floor), old.filter(starts_at__gte=floor)
    old.delete()
    last_in_hour = (
        raw.annotate(
            hour=_hour("observed_at"),
            rank=Window(
                RowNumber(),
                partition_by=[F("offer_id"), _hour("observed_at")],
                order_by=[F("observed_at").desc(), F("id").desc()],
            ),
        )
        .filter(rank=1)
        .values_list("offer_id", "hour", "product_id", "observed_at", "price")
    )
    rows: dict[tuple, LastPrice] = {}
    for offer_id, hour, product_id, observed_at, price in last_in_hour:
        hour = hour.astimezone(UTC)
        last = LastPrice(product_id, observed_at, price)
        rows[(offer_id, RollupSpan.HOUR.value, hour)] = last
        day = (offer_id, RollupSpan.DAY.value, span_start(RollupSpan.DAY, hour))
        rows[day] = rows[day].later(last) if day in rows else last
    _write_observation_rollups(rows, update=False)


__all__ = [
    "SPAN_LENGTH",
    "SUMS_FIELDS",
    "LastPrice",
    "Sums",
    "Totals",
    "rollups_add",
    "rollups_rebuild",
    "span_ceil",
    "span_start",
]
