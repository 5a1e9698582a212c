"""Reads of the Offers side for the interfaces: current figures, changes, sparklines, a product's
sync state, orderings and summaries of a catalogue; from pricing.health, sync runs and the
staff's health page; from pricing.trends, price trends. The overview, the product page and the
API read pricing through here and pricing.services only, so every figure has one
implementation (DESIGN §2, §3).

Conventions of every selector:

- Times in are aware datetimes (a naive one raises ValueError); inside, everything is UTC.
  Periods are half-open: [start, end).
- Prices are whole units of settings.PRICE_CURRENCY; means are floats of the same unit.
- An undefined figure is None, never 0: no snapshot, no offers, no stock, an empty period.
- Figures come from ProductSnapshot rows, which the sync computes with pricing.statistics (the
  only place the formulas live, the percentage change included).
- Many-product selectors run a constant number of queries whatever the number of products, and
  every trend is downsampled in the database (pricing.trends).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)

from pricing.alerts.backtest import BacktestResult, alert_backtest
from pricing.alerts.rules import EVENT_KINDS, LOOKBACK_DAYS, MOVE_FIGURES, WINDOWS
from pricing.alerts.selectors import (
    AlertFiringInfo,
    AlertRuleInfo,
    alert_firings,
    alert_rule_get,
    alert_rules,
    alert_settings_of,
    alerts_unread_count,
)
from pricing.health import (
    SCHEDULER_STALE_AFTER,
    OffersTokenState,
    ProductPanel,
    QueueState,
    RunState,
    SchedulerStatus,
    StaffHealth,
    SyncRunSummary,
    TrackedProduct,
    latest_sync_run,
    scheduler_status,
    staff_health,
)
from pricing.market.map_watch import MapViolation, map_violations
from pricing.market.memory import MemoryWindow, PriceExtreme, PriceMemory, price_memory
from pricing.market.movements import (
    NEW_LOW_LOOKBACK_DAYS,
    CatalogueMovements,
    Movement,
    MovementCount,
    catalogue_movements,
    products_moved,
)
from pricing.market.position import (
    PricePosition,
    latest_snapshot_figure,
    price_position_many,
    rank_expression,
)
from pricing.models import (
    AlertDelivery,
    AlertDirection,
    AlertEmailMode,
    AlertFigure,
    AlertKind,
    Offer,
    OfferObservation,
    ProductSnapshot,
    RegistrationState,
    RollupSpan,
    SnapshotRollup,
)
from pricing.rollups import span_start
from pricing.statistics import (
    mean_price_change,
    percentage_change,
    price_change_many,
    price_index,
)
from pricing.status import (
    ProductSyncStatus,
    SyncState,
    stale_after,
    sync_status,
)
from pricing.times import utc
from pricing.trends import (
    MAX_TREND_VALUES,
    Bucket,
    OfferSeries,
    Trend,
    TrendPoint,
    TrendTooFine,
    TrendTooLarge,
    price_trend,
)
from products.models import Product

__all__ = [
    "CATALOGUE_CHANGE_PERIOD",
    "EVENT_KINDS",
    "LOOKBACK_DAYS",
    "MAX_TREND_VALUES",
    "MOVE_FIGURES",
    "NEW_LOW_LOOKBACK_DAYS",
    "SCHEDULER_STALE_AFTER",
    "WINDOWS",
    "AlertDelivery",
    "AlertDirection",
    "AlertEmailMode",
    "AlertFigure",
    "AlertFiringInfo",
    "AlertKind",
    "AlertRuleInfo",
    "BacktestResult",
    "Bucket",
    "CatalogueMovements",
    "CatalogueSummary",
    "CurrentOffer",
    "CurrentStatistics",
    "MapViolation",
    "MemoryWindow",
    "Movement",
    "MovementCount",
    "OfferSeries",
    "OffersTokenState",
    "OwnersLastRun",
    "PriceExtreme",
    "PriceMemory",
    "PricePosition",
    "ProductOrder",
    "ProductPanel",
    "ProductSyncStatus",
    "QueueState",
    "RegistrationState",
    "RunState",
    "SchedulerStatus",
    "StaffHealth",
    "SyncRunSummary",
    "SyncState",
    "TrackedProduct",
    "Trend",
    "TrendPoint",
    "TrendTooFine",
    "TrendTooLarge",
    "alert_backtest",
    "alert_firings",
    "alert_rule_get",
    "alert_rules",
    "alert_settings_of",
    "alerts_unread_count",
    "catalogue_movements",
    "catalogue_summary",
    "current_offers",
    "history_start",
    "latest_sync_run",
    "map_violations",
    "price_change_many",
    "price_memory",
    "price_position",
    "price_position_many",
    "price_trend",
    "product_stats",
    "product_stats_many",
    "products_moved",
    "products_ordered",
    "scheduler_status",
    "sparkline_many",
    "staff_health",
    "stale_after",
    "sync_status",
    "with_sync_state",
]

# The period of the change a catalogue shows beside each product (and can be sorted by).
CATALOGUE_CHANGE_PERIOD = timedelta(hours=24)
HOUR = timedelta(hours=1)


def _ids(product_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(product_ids))


# --- Current statistics --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurrentStatistics:
    """The statistics of a product's current offers (pricing.statistics.OfferStatistics) and
    when they were taken. Every figure is None when the product was never synced (not 0: no one
    knows yet); after a sync without offers, offer_count and total_stock are 0 and the prices
    None. as_of: the taken_at (aware, UTC) of the snapshot they come from, None if never synced.
    """

    offer_count: int | None
    total_stock: int | None
    min_price: int | None
    max_price: int | None
    mean_price: float | None
    median_price: float | None
    weighted_mean_price: float | None
    as_of: datetime | None


_NEVER_SYNCED = CurrentStatistics(None, None, None, None, None, None, None, None)


def _statistics_of(snapshot: ProductSnapshot) -> CurrentStatistics:
    return CurrentStatistics(
        offer_count=snapshot.offer_count,
        total_stock=snapshot.total_stock,
        min_price=snapshot.min_price,
        max_price=snapshot.max_price,
        mean_price=snapshot.mean_price,
        median_price=snapshot.median_price,
        weighted_mean_price=snapshot.weighted_mean_price,
        as_of=snapshot.taken_at,
    )


def _latest_snapshot() -> QuerySet:
    """The latest snapshot of the product OuterRef("pk"): one index seek on (product, taken_at)."""
    return ProductSnapshot.objects.filter(product=OuterRef("pk")).order_by("-taken_at", "-id")


def product_stats(*, product: Product) -> CurrentStatistics:
    """The product's current statistics: those of its latest snapshot (one query).

    The sync writes the snapshot and the current offers in one transaction, so the latest
    snapshot is exactly the statistics of the current offers.
    """
    return product_stats_many(product_ids=[product.pk])[product.pk]


def product_stats_many(*, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CurrentStatistics]:
    """product_stats for many products in one query. Every requested id is a key of the answer
    (unknown or never-synced products get all-None statistics); no query for no ids."""
    ids = _ids(product_ids)
    if not ids:
        return {}
    latest_ids = (
        Product.objects.filter(pk__in=ids)
        .order_by()
        .annotate(latest=Subquery(_latest_snapshot().values("id")[:1]))
        .values("latest")
    )
    answer = dict.fromkeys(ids, _NEVER_SYNCED)
    for snapshot in ProductSnapshot.objects.filter(pk__in=latest_ids).order_by():
        answer[snapshot.product_id] = _statistics_of(snapshot)
    return answer


def history_start(*, product: Product) -> datetime | None:
    """When the product's history begins: the taken_at (aware, UTC) of its first snapshot, None
    before its first successful sync. One query, of the daily roll-ups: they keep the first
    snapshot's time after the raw rows are pruned."""
    return (
        SnapshotRollup.objects.filter(product=product, span=RollupSpan.DAY)
        .order_by("starts_at")
        .values_list("first_at", flat=True)
        .first()
    )


@dataclass(frozen=True, slots=True)
class CurrentOffer:
    """One of the product's current offers. Prices in whole currency units, times aware UTC.

    `previous_price` is the price at the observation before the latest one (observations are
    written when price or stock changes); `change` the percentage change from it to the current
    price (two decimals, 0.0 when only the stock changed). Both are None for an offer observed
    only once so far: it is new.
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


def current_offers(*, product: Product, limit: int | None = None) -> list[CurrentOffer]:
    """The product's current offers (those of its latest successful sync), cheapest first
    (then by offer id), each with its change since the previous observation; the `limit`
    cheapest when given. One query."""
    previous_price = Subquery(
        OfferObservation.objects.filter(offer=OuterRef("pk"))
        .order_by("-observed_at", "-id")
        .values("price")[1:2]
    )
    rows = (
        Offer.objects.current()
        .filter(product=product)
        .order_by("price", "offer_id")
        .annotate(
            previous_price=previous_price,
            change=percentage_change(previous_price, F("price")),
        )
        .values_list(
            "offer_id",
            "price",
            "items_in_stock",
            "first_seen_at",
            "last_seen_at",
            "previous_price",
            "change",
        )
    )
    return [CurrentOffer(*row) for row in (rows if limit is None else rows[:limit])]


def price_position(*, product: Product) -> PricePosition:
    """The product's PricePosition (pricing.market.position): two queries."""
    return price_position_many(product_ids=[product.pk])[product.pk]


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
    database: from the hourly roll-ups when the slices are whole UTC hours (a few rows a
    product: the overview asks for the last 24 hours so), from the snapshots otherwise. Every
    requested id is a key of the answer. Raises ValueError when points < 1 or end <= start.
    """
    start, end = utc(start, "start"), utc(end, "end")
    if points < 1:
        raise ValueError(f"points must be at least 1, not {points}")
    if end <= start:
        raise ValueError(f"end ({end}) must be after start ({start})")
    ids = _ids(product_ids)
    answer: dict[uuid.UUID, list[float | None]] = {pk: [None] * points for pk in ids}
    if not ids:
        return answer
    span = end - start
    hourly = start == span_start(RollupSpan.HOUR, start) and (span / points) % HOUR == timedelta(0)
    field = "starts_at" if hourly else "taken_at"
    # Slice i is [start + span·i/points, start + span·(i+1)/points): a CASE over the boundaries
    # is the portable way to bucket by an arbitrary width (no epoch arithmetic on SQLite).
    slice_of = Case(
        *(
            When(**{f"{field}__lt": start + span * (i + 1) / points}, then=Value(i))
            for i in range(points - 1)
        ),
        default=Value(points - 1),
        output_field=IntegerField(),
    )
    if hourly:
        rows = SnapshotRollup.objects.filter(
            product_id__in=ids, span=RollupSpan.HOUR, starts_at__gte=start, starts_at__lt=end
        ).annotate(slice=slice_of)
        rows = rows.values("product_id", "slice").annotate(
            total=Sum("mean_sum"), count=Sum("mean_count")
        )
        means = (
            (pk, index, total / count if count else None)
            for pk, index, total, count in rows.order_by().values_list(
                "product_id", "slice", "total", "count"
            )
        )
    else:
        means = (
            ProductSnapshot.objects.filter(
                product_id__in=ids, taken_at__gte=start, taken_at__lt=end
            )
            .annotate(slice=slice_of)
            .values("product_id", "slice")
            .annotate(mean=Avg("mean_price"))
            .order_by()
            .values_list("product_id", "slice", "mean")
        )
    for pk, index, mean in means:
        answer[pk][index] = mean
    return answer


# --- A catalogue: sync states, orderings, summary ------------------------------------------------


def with_sync_state(products: QuerySet[Product]) -> QuerySet[Product]:
    """`products` with pricing's tracking row joined, so that sync_status(product) costs no
    query of its own."""
    return products.select_related("tracking")


class ProductOrder(StrEnum):
    """The columns a catalogue can be sorted by."""

    NAME = "name"
    CREATED = "created"
    MEAN_PRICE = "mean"
    WEIGHTED_MEAN_PRICE = "weighted"
    CHANGE = "change"  # over CATALOGUE_CHANGE_PERIOD
    OFFERS = "offers"
    STOCK = "stock"
    # Market position (pricing.market.position): my price, its rank, its index to the cheapest.
    MY_PRICE = "my-price"
    RANK = "rank"
    INDEX_TO_MIN = "index"


_LATEST_FIGURE = {
    ProductOrder.MEAN_PRICE: "mean_price",
    ProductOrder.WEIGHTED_MEAN_PRICE: "weighted_mean_price",
    ProductOrder.OFFERS: "offer_count",
    ProductOrder.STOCK: "total_stock",
}


def products_ordered(
    products: QuerySet[Product], *, by: ProductOrder, descending: bool = False, now: datetime
) -> QuerySet[Product]:
    """`products` sorted by one column in the database (with_sync_state applied), so that one
    page of them costs one query whatever the size of the catalogue.

    Figures are those the catalogue shows: the latest snapshot's, the change of the mean
    price over CATALOGUE_CHANGE_PERIOD up to `now` (mean_price_change, the one implementation),
    and the market position's (pricing.market.position: my price, its rank, its index to the
    cheapest offer). Undefined figures (never synced, no offers, no change, no price of mine)
    come last in either direction; ties are broken by name, then id.
    """
    now = utc(now, "now")
    match ProductOrder(by):
        case ProductOrder.NAME:
            key = F("name")
        case ProductOrder.CREATED:
            key = F("created_at")
        case ProductOrder.CHANGE:
            key = mean_price_change(start=now - CATALOGUE_CHANGE_PERIOD, end=now)
        case ProductOrder.MY_PRICE:
            key = F("my_price")
        case ProductOrder.RANK:
            key = rank_expression()
        case ProductOrder.INDEX_TO_MIN:
            key = price_index(F("my_price"), latest_snapshot_figure("min_price"))
        case column:
            key = Subquery(_latest_snapshot().values(_LATEST_FIGURE[column])[:1])
    products = with_sync_state(products).annotate(sort_key=key)
    sort_key = (
        F("sort_key").desc(nulls_last=True) if descending else F("sort_key").asc(nulls_last=True)
    )
    return products.order_by(sort_key, "name", "pk")


@dataclass(frozen=True, slots=True)
class OwnersLastRun:
    """The latest sync run as one owner sees it. A run covers everyone's products: what the
    others' did is not theirs to see. products_total: their active registered products now;
    products_failed: theirs whose sync failed since the run started. Times aware, UTC."""

    started_at: datetime
    state: RunState
    products_total: int
    products_failed: int


@dataclass(frozen=True, slots=True)
class CatalogueSummary:
    """A user's catalogue at a glance. needing_attention: products whose registration failed
    or whose last sync failed (SyncState REGISTRATION_FAILED or FAILING, suspended ones too)."""

    products: int
    current_offers: int
    needing_attention: int
    last_run: OwnersLastRun | None


def catalogue_summary(*, owner, now: datetime) -> CatalogueSummary:
    """The owner's catalogue summary and the latest sync run, counted over their products only.
    Three queries."""
    run = latest_sync_run(now=now)
    counts = Product.objects.for_owner(owner).aggregate(
        products=Count("pk"),
        needing_attention=Count(
            "pk",
            filter=Q(tracking__sync_failures__gt=0)
            | Q(tracking__registration_state=RegistrationState.FAILED),
        ),
        in_runs=Count(
            "pk",
            filter=Q(
                is_suspended=False,
                owner__is_active=True,
                tracking__registration_state=RegistrationState.REGISTERED,
            ),
        ),
        failed_in_run=Count(
            "pk",
            filter=Q(
                tracking__sync_failures__gt=0,
                tracking__last_sync_error_at__gte=run.started_at if run else now,
            ),
        ),
    )
    return CatalogueSummary(
        products=counts["products"],
        current_offers=Offer.objects.current().filter(product__owner=owner).count(),
        needing_attention=counts["needing_attention"],
        last_run=None
        if run is None
        else OwnersLastRun(
            started_at=run.started_at,
            state=run.state,
            products_total=counts["in_runs"],
            products_failed=counts["failed_in_run"],
        ),
    )
