"""A product's sync state: the one reading of its tracking row that every interface shows.

The overview, the product page, the API and the staff's health page all read SyncState from
here; they only choose a label and a colour for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Q

from pricing.models import ProductTracking, RegistrationState
from products.models import Product

# A product is stale when no sync succeeded for this many sync intervals.
STALE_AFTER_INTERVALS = 3


def stale_after() -> timedelta:
    """How long a product may go without a successful sync before it is stale (and a chart's
    line breaks rather than bridge the gap)."""
    return STALE_AFTER_INTERVALS * timedelta(seconds=settings.OFFERS_SYNC_INTERVAL)


class SyncState(StrEnum):
    """Where a product stands with the Offers service, most serious first."""

    SUSPENDED = "suspended"  # by staff: not synced, read-only
    REGISTRATION_FAILED = "registration_failed"  # for good; "register again" starts over
    REGISTERING = "registering"  # pending, perhaps retrying after an error
    AWAITING_FIRST_SYNC = "awaiting_first_sync"  # registered, no sync finished yet
    FAILING = "failing"  # the last sync failed
    STALE = "stale"  # the last sync succeeded, but longer ago than stale_after()
    SYNCED = "synced"


_REGISTERED_STATES = frozenset(
    {SyncState.AWAITING_FIRST_SYNC, SyncState.FAILING, SyncState.STALE, SyncState.SYNCED}
)


@dataclass(frozen=True, slots=True)
class ProductSyncStatus:
    """A product's SyncState with what explains it. Times are aware, UTC.

    message: what explains the state to the product's owner: the suspension reason staff gave,
    or what a registration or sync error means for them ("" when there is none). Never the
    error itself, which names our settings and the service's address: staff read that on the
    health page and in the admin (the tracking row's error fields).
    last_synced_at: the last successful sync. last_attempt_at: when the last sync finished,
    successfully or not (None before the first). registration_state: where the registration
    with the Offers service stands, whatever the state (a suspended product keeps its own).
    """

    state: SyncState
    message: str
    last_synced_at: datetime | None
    last_attempt_at: datetime | None
    registration_state: RegistrationState

    @property
    def can_sync(self) -> bool:
        """Registered and not suspended: a sync may be asked for."""
        return self.state in _REGISTERED_STATES

    @property
    def first_sync_pending(self) -> bool:
        """Neither synced nor failed yet, and on its way to a first sync (a new product)."""
        return (
            self.state in (SyncState.REGISTERING, SyncState.AWAITING_FIRST_SYNC)
            and self.last_attempt_at is None
        )


def sync_status(product: Product, *, now: datetime) -> ProductSyncStatus:
    """The product's sync status at `now`. Reads product.tracking: join it when loading many
    products (selectors.with_sync_state), or this costs a query. A product without a tracking
    row (made around pricing's receiver, such as by bulk_create) counts as registering."""
    # By id: assigning the product would cache this unsaved row on it as its tracking.
    tracking = getattr(product, "tracking", None) or ProductTracking(product_id=product.pk)
    attempts = [t for t in (tracking.last_synced_at, tracking.last_sync_error_at) if t]
    last_attempt = max(attempts, default=None)

    def status(state: SyncState, message: str = "") -> ProductSyncStatus:
        return ProductSyncStatus(
            state,
            message,
            tracking.last_synced_at,
            last_attempt,
            RegistrationState(tracking.registration_state),
        )

    if product.is_suspended:
        return status(SyncState.SUSPENDED, product.suspension_reason)
    if tracking.registration_state == RegistrationState.FAILED:
        return status(SyncState.REGISTRATION_FAILED, REGISTRATION_FAILED_MESSAGE)
    if tracking.registration_state == RegistrationState.PENDING:
        retrying = tracking.registration_error and tracking.registration_attempts
        return status(SyncState.REGISTERING, REGISTRATION_RETRY_MESSAGE if retrying else "")
    if tracking.last_synced_at is None:
        if tracking.last_sync_error:
            return status(SyncState.FAILING, _sync_failed_message(tracking.sync_failures))
        return status(SyncState.AWAITING_FIRST_SYNC)
    if tracking.sync_failures and tracking.last_sync_error:
        return status(SyncState.FAILING, _sync_failed_message(tracking.sync_failures))
    if now - tracking.last_synced_at > stale_after():
        return status(SyncState.STALE)
    return status(SyncState.SYNCED)


REGISTRATION_FAILED_MESSAGE = (
    "The Offers service refused to register this product, or did not answer after several "
    "attempts. Check its name and description, then register it again."
)
REGISTRATION_RETRY_MESSAGE = (
    "The Offers service has not accepted the registration yet; it is tried again shortly."
)


def _sync_failed_message(failures: int) -> str:
    syncs = "The last sync" if failures <= 1 else f"The last {failures} syncs"
    return (
        f"{syncs} could not get this product's offers from the Offers service; it is tried "
        "again every minute, and our staff can see why."
    )


def sync_state_filter(state: SyncState, *, now: datetime) -> Q:
    """A filter of Product rows in `state` at `now`: sync_status's rules as a query (a test
    holds the two together), for lists that filter by state in the database (the admin)."""
    suspended = Q(is_suspended=True)
    registered = ~suspended & Q(tracking__registration_state=RegistrationState.REGISTERED)
    never_synced = Q(tracking__last_synced_at__isnull=True)
    has_error = ~Q(tracking__last_sync_error="")
    failing = registered & has_error & (never_synced | Q(tracking__sync_failures__gt=0))
    working = registered & ~never_synced & ~failing
    stale_before = now - stale_after()
    match SyncState(state):
        case SyncState.SUSPENDED:
            return suspended
        case SyncState.REGISTRATION_FAILED:
            return ~suspended & Q(tracking__registration_state=RegistrationState.FAILED)
        case SyncState.REGISTERING:
            # No tracking row counts as registering, as in sync_status.
            return ~suspended & (
                Q(tracking__registration_state=RegistrationState.PENDING) | Q(tracking__isnull=True)
            )
        case SyncState.AWAITING_FIRST_SYNC:
            return registered & never_synced & ~has_error
        case SyncState.FAILING:
            return failing
        case SyncState.STALE:
            return working & Q(tracking__last_synced_at__lt=stale_before)
        case SyncState.SYNCED:
            return working & Q(tracking__last_synced_at__gte=stale_before)
