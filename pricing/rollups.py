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
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import batched
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import (
    Count,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber

from pricing.db_functions import ZoneTrunc
from pricing.models import (
    ObservationRollup,
    OfferObservation,
    ProductSnapshot,
    RollupSpan,
    SnapshotRollup,
)
from products.models import Product

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


def rollup_cover(start: datetime, end: datetime) -> Q:
    """The SnapshotRollup rows that cover [start, end) exactly, once each, with the fewest rows:
    hours for the partial first and last days, days for the whole days between (a year is about
    365 + 48 rows). `start` is taken down to its UTC hour; a row counts when it starts before
    `end` (a mid-hour `end` takes its whole hour: the snapshots so far, when `end` is now)."""
    start = span_start(RollupSpan.HOUR, start)
    first_day_end, last_day = span_ceil(RollupSpan.DAY, start), span_start(RollupSpan.DAY, end)
    if first_day_end >= last_day:
        return Q(span=RollupSpan.HOUR, starts_at__gte=start, starts_at__lt=end)
    return (
        Q(span=RollupSpan.HOUR, starts_at__gte=start, starts_at__lt=first_day_end)
        | Q(span=RollupSpan.DAY, starts_at__gte=first_day_end, starts_at__lt=last_day)
        | Q(span=RollupSpan.HOUR, starts_at__gte=last_day, starts_at__lt=end)
    )


@dataclass(frozen=True, slots=True)
class Totals:
    """Snapshots summed: counts and sums add, min and max take the lower and higher. What a
    bucket of any size holds (pricing.trends.sources); a roll-up row adds its ends (Sums).

    The keyword-only fields (market position, pricing.market) default to "nothing counted", so
    a bucket built from the first nine alone (the trends') stays valid: max_min_price the
    highest cheapest price; mean_sq_sum Σ mean²; the change counts summed (NULL as 0); held_*
    the time-weighted sums: seconds each snapshot's values held until the next snapshot, and
    seconds × its mean and min price, counted with the snapshot that ended the interval.
    """

    snapshots: int
    mean_sum: float
    mean_count: int
    weighted_mean_sum: float
    weighted_mean_count: int
    min_price: int | None
    max_price: int | None
    offer_count_sum: int
    total_stock_sum: int
    _: KW_ONLY
    max_min_price: int | None = None
    mean_sq_sum: float = 0.0
    price_rises: int = 0
    price_drops: int = 0
    offers_appeared: int = 0
    offers_vanished: int = 0
    offers_sold_out: int = 0
    offers_restocked: int = 0
    held_seconds: float = 0.0
    held_mean_sum: float = 0.0
    held_min_sum: float = 0.0

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
            max_min_price=low,
            mean_sq_sum=0.0 if mean is None else mean * mean,
        )

    def merged_totals(self, other: Totals) -> dict:
        """The one combining rule: sums add, extremes take the lower or higher."""
        merged = {
            "min_price": _extreme(min, self.min_price, other.min_price),
            "max_price": _extreme(max, self.max_price, other.max_price),
            "max_min_price": _extreme(max, self.max_min_price, other.max_min_price),
        }
        for name in _ADDED:
            merged[name] = getattr(self, name) + getattr(other, name)
        return merged

    def merge(self, other: Totals) -> Totals:
        return Totals(**self.merged_totals(other))


# The change counts a snapshot carries (NULL at a product's first sync) and its roll-ups sum.
CHANGE_COUNTS = (
    "price_rises",
    "price_drops",
    "offers_appeared",
    "offers_vanished",
    "offers_sold_out",
    "offers_restocked",
)


@dataclass(frozen=True, slots=True)
class Held:
    """What a snapshot leaves holding until the next one: its time, mean and min price (the
    previous snapshot of the one being added, or the last of a roll-up row)."""

    at: datetime
    mean: float | None
    low: int | None

    def until(self, moment: datetime) -> dict:
        """The held sums of these values from `at` until `moment`: nothing when they are
        undefined (no offers, or a roll-up row from before its last_min was kept) or `moment` is
        not later (snapshots out of time order)."""
        if self.mean is None or self.low is None or moment <= self.at:
            return {}
        seconds = (moment - self.at).total_seconds()
        return {
            "held_seconds": seconds,
            "held_mean_sum": seconds * self.mean,
            "held_min_sum": seconds * self.low,
        }


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
    last_min: int | None

    @classmethod
    def of_snapshot(cls, snapshot: ProductSnapshot, *, previous: Held | None = None) -> Sums:
        """One snapshot's sums, with the held interval of the `previous` snapshot's values
        until this one (none without a previous one)."""
        totals = Totals.of_figures(
            snapshot.mean_price,
            snapshot.weighted_mean_price,
            snapshot.min_price,
            snapshot.max_price,
            snapshot.offer_count,
            snapshot.total_stock,
        )
        at, mean, low = snapshot.taken_at, snapshot.mean_price, snapshot.min_price
        values = _totals_fields(totals) | {
            name: getattr(snapshot, name) or 0 for name in CHANGE_COUNTS
        }
        return cls(
            **(values | (previous.until(at) if previous else {})),
            first_at=at,
            first_mean=mean,
            last_at=at,
            last_mean=mean,
            last_min=low,
        )

    @classmethod
    def of_row(cls, row: SnapshotRollup) -> Sums:
        return cls(**{name: getattr(row, name) for name in SUMS_FIELDS})

    def merge(self, other: Sums) -> Sums:
        first = other if other.first_at < self.first_at else self
        last = other if other.last_at >= self.last_at else self
        return Sums(
            **self.merged_totals(other),
            first_at=first.first_at,
            first_mean=first.first_mean,
            last_at=last.last_at,
            last_mean=last.last_mean,
            last_min=last.last_min,
        )

    @property
    def held_after(self) -> Held:
        """The values its last snapshot left holding."""
        return Held(self.last_at, self.last_mean, self.last_min)

    def as_row(self, *, product_id: uuid.UUID, span: RollupSpan, starts_at: datetime):
        return SnapshotRollup(
            product_id=product_id, span=span, starts_at=starts_at, **self.columns()
        )

    def columns(self) -> dict:
        return {name: getattr(self, name) for name in SUMS_FIELDS}


def _totals_fields(totals: Totals) -> dict:
    return {field.name: getattr(totals, field.name) for field in fields(Totals)}


SUMS_FIELDS = tuple(field.name for field in fields(Sums))
# The fields of Totals that add.
_ADDED = tuple(
    field.name
    for field in fields(Totals)
    if field.name not in {"min_price", "max_price", "max_min_price"}
)


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
    the affected roll-ups are read, with each product's latest hour (what its previous snapshot
    left holding: the held sums of its first new snapshot), combined with the new rows in
    Python (Sums.merge, the one combining rule), and written back with one upsert per table.
    A product's new snapshots are taken in (taken_at, id) order and must be later than those
    already rolled up (the sync's are); rollups_rebuild sets right any written out of order.
    The caller holds the products' rows locked (pricing.sync's fence), so no other writer
    touches these roll-ups meanwhile.
    """
    with transaction.atomic(savepoint=False):
        _add_snapshots(snapshots)
        _add_observations(observations)


def _add_snapshots(snapshots: Sequence[ProductSnapshot]) -> None:
    if not snapshots:
        return
    by_product: dict[uuid.UUID, list[ProductSnapshot]] = defaultdict(list)
    for snapshot in snapshots:
        by_product[snapshot.product_id].append(snapshot)
    starts = {span_start(span, s.taken_at) for s in snapshots for span in RollupSpan}
    kept: dict[tuple, Sums] = {}
    previous: dict[uuid.UUID, tuple[datetime, Held]] = {}
    for chunk in batched(by_product, IDS_PER_QUERY):
        # One query, each half on the unique index (an OR of the two would read the table);
        # the span too, or each product's every hour is read to find the two rows.
        keys = Q(product_id__in=chunk, span__in=list(RollupSpan), starts_at__in=starts)
        rows = SnapshotRollup.objects.filter(keys).union(
            SnapshotRollup.objects.filter(pk__in=_latest_hours(chunk)), all=True
        )
        for row in rows:
            sums = Sums.of_row(row)
            kept[(row.product_id, row.span, row.starts_at)] = sums
            if row.span == RollupSpan.HOUR and (
                row.product_id not in previous or row.starts_at > previous[row.product_id][0]
            ):
                previous[row.product_id] = (row.starts_at, sums.held_after)
    wanted: dict[tuple, Sums] = {}
    for product_id, written in by_product.items():
        held = previous[product_id][1] if product_id in previous else None
        for snapshot in sorted(written, key=lambda s: (s.taken_at, s.pk or 0)):
            sums = Sums.of_snapshot(snapshot, previous=held)
            held = sums.held_after
            for span in RollupSpan:
                key = (product_id, span.value, span_start(span, snapshot.taken_at))
                wanted[key] = wanted[key].merge(sums) if key in wanted else sums
    for key, sums in wanted.items():
        if key in kept:
            wanted[key] = kept[key].merge(sums)
    SnapshotRollup.objects.bulk_create(
        [
            sums.as_row(product_id=product_id, span=span, starts_at=start)
            for (product_id, span, start), sums in wanted.items()
        ],
        update_conflicts=True,
        unique_fields=["product", "span", "starts_at"],
        update_fields=list(SUMS_FIELDS),
    )


def _latest_hours(product_ids: Sequence[uuid.UUID], *, before: datetime | None = None) -> QuerySet:
    """The ids of these products' latest hour roll-ups (starting before `before` when given):
    one index probe each."""
    rows = SnapshotRollup.objects.filter(product=OuterRef("pk"), span=RollupSpan.HOUR)
    if before is not None:
        rows = rows.filter(starts_at__lt=before)
    latest = rows.order_by("-starts_at").values("pk")[:1]
    return Product.objects.filter(pk__in=product_ids).order_by().values(latest=Subquery(latest))


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
        rows = ObservationRollup.objects.filter(
            offer_id__in=chunk, span__in=list(RollupSpan), starts_at__in=starts
        )
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
    """Sums per hour in the database; the ends of each hour and the held sums (which need
    each snapshot's previous one) in one ordered pass over each product's snapshots (a few
    columns, read in chunks); then days from hours."""
    raw = ProductSnapshot.objects.filter(product_id__in=product_ids)
    old = SnapshotRollup.objects.filter(product_id__in=product_ids)
    held: dict[uuid.UUID, Held] = {}
    if floor is not None:
        raw, old = raw.filter(taken_at__gte=floor), old.filter(starts_at__gte=floor)
        # What the last snapshot before the floor left holding: its hour is kept.
        before = SnapshotRollup.objects.filter(
            pk__in=_latest_hours(product_ids, before=floor)
        ).values_list("product_id", "last_at", "last_mean", "last_min")
        held = {product_id: Held(*values) for product_id, *values in before}
    old.delete()
    hours = (
        raw.annotate(hour=_hour("taken_at"))
        .values("product_id", "hour")
        .annotate(
            # Before min_price is an annotation's name (which would shadow the column).
            max_min_price=Max("min_price"),
            snapshots=Count("id"),
            mean_sum=Sum("mean_price", default=0.0),
            mean_count=Count("mean_price"),
            weighted_mean_sum=Sum("weighted_mean_price", default=0.0),
            weighted_mean_count=Count("weighted_mean_price"),
            min_price=Min("min_price"),
            max_price=Max("max_price"),
            offer_count_sum=Sum("offer_count"),
            total_stock_sum=Sum("total_stock"),
            mean_sq_sum=Sum(F("mean_price") * F("mean_price"), default=0.0),
            **{name: Sum(name, default=0) for name in CHANGE_COUNTS},
        )
        .order_by()
    )
    ends = {
        (product_id, hour): figures
        for product_id in {uuid.UUID(str(pk)) for pk in product_ids}
        for hour, figures in _hour_ends(raw.filter(product_id=product_id), held.get(product_id))
    }
    by_hour: dict[tuple, Sums] = {}
    for row in hours:
        product_id, hour = row.pop("product_id"), row.pop("hour").astimezone(UTC)
        key = (product_id, hour)
        row |= {name: int(row[name]) for name in CHANGE_COUNTS}
        by_hour[key] = Sums(**row, **ends[key])
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


def _hour_ends(snapshots: QuerySet, held: Held | None) -> Iterator[tuple[datetime, dict]]:
    """One product's hours (their starts) with their first and last snapshots and held sums:
    one pass over its snapshots in (taken_at, id) order, reading only the columns these need
    (a year of minutes is half a million rows). `held` is what the snapshot before them left
    holding. The held sums are Held.until's, added in the same order as the sync adds them."""
    at = mean = low = None
    if held is not None:
        at, mean, low = held.at, held.mean, held.low
    start = hour = hour_end = None
    rows = snapshots.order_by("taken_at", "id").values_list("taken_at", "mean_price", "min_price")
    for taken_at, taken_mean, taken_low in rows.iterator(chunk_size=10_000):
        if hour_end is None or taken_at >= hour_end:  # in time order: the next hour begins
            if hour is not None:
                hour |= {"last_at": at, "last_mean": mean, "last_min": low}
                yield start, hour
            start = span_start(RollupSpan.HOUR, taken_at)
            hour_end = start + SPAN_LENGTH[RollupSpan.HOUR]
            hour = {
                "first_at": taken_at,
                "first_mean": taken_mean,
                "held_seconds": 0.0,
                "held_mean_sum": 0.0,
                "held_min_sum": 0.0,
            }
        if mean is not None and low is not None and taken_at > at:
            seconds = (taken_at - at).total_seconds()
            hour["held_seconds"] += seconds
            hour["held_mean_sum"] += seconds * mean
            hour["held_min_sum"] += seconds * low
        at, mean, low = taken_at, taken_mean, taken_low
    if hour is not None:
        hour |= {"last_at": at, "last_mean": mean, "last_min": low}
        yield start, hour


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
    "CHANGE_COUNTS",
    "SPAN_LENGTH",
    "SUMS_FIELDS",
    "Held",
    "LastPrice",
    "Sums",
    "Totals",
    "rollup_cover",
    "rollups_add",
    "rollups_rebuild",
    "span_ceil",
    "span_start",
]
