"""Writes of the Offers side: registration, the sync of a product's offers, requests from people
("Sync now", "Register again"), sync runs and the scheduler's heartbeat. With pricing.selectors,
the interfaces' way into pricing.

Rules (DESIGN §3, §5): every HTTP call happens outside a database transaction; each product's
writes are one transaction; a failed or malformed fetch changes nothing but the product's error
fields (in its ProductTracking row); leases (pricing.leases) keep one product from being synced
twice at once and runs from overlapping, and they expire, so a killed worker cannot stop
syncing for good. Product ids are uuid.UUID from the task boundary inward.
"""

import enum
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from pricing.leases import HeldLease, lease, lease_claim, lease_release
from pricing.models import (
    Heartbeat,
    Offer,
    OfferObservation,
    ProductSnapshot,
    ProductTracking,
    RegistrationState,
    SyncRun,
)
from pricing.offers_client import (
    OfferData,
    OffersError,
    OffersRejected,
    ProductNotRegistered,
    get_offers_client,
)
from pricing.statistics import offer_statistics
from pricing.status import SyncState, sync_status
from pricing.times import database_now
from products.models import Product

logger = logging.getLogger(__name__)

REGISTRATION_MAX_ATTEMPTS = 8
REGISTRATION_BACKOFF_BASE = 5.0  # seconds; doubles with each failed attempt
REGISTRATION_BACKOFF_MAX = 600.0
SYNC_RUN_LEASE = "offers-sync-run"


# A pending registration whose retry is this late has lost its task (a worker killed, a queue
# emptied): the periodic run enqueues it again. Earlier, its own scheduled task is on its way.
REGISTRATION_LOST_AFTER = 30.0


def _registration_lease_seconds() -> float:
    return get_offers_client().worst_case_seconds() + 10


def _product_lease_seconds() -> float:
    # The store is fenced (HeldLease.held_now), so a lease that runs out only costs the answer.
    return get_offers_client().worst_case_seconds() + 10


def registration_backoff(attempts: int) -> float:
    """Seconds to wait before registration attempt number `attempts + 1`."""
    return min(REGISTRATION_BACKOFF_BASE * 2 ** max(attempts - 1, 0), REGISTRATION_BACKOFF_MAX)


# --- Registration --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    registered: bool
    retry_in: float | None = None  # seconds, when this call scheduled the next attempt
    error: str = ""
    # Registered by this call (not before it): the caller syncs the product now.
    registered_now: bool = False


def _active_tracking_of(product_id: uuid.UUID) -> ProductTracking | None:
    """The product's tracking row with its product, or None when the product is gone, suspended
    or its owner deactivated (ProductTracking.objects.active())."""
    return (
        ProductTracking.objects.active()
        .select_related("product")
        .filter(product_id=product_id)
        .annotate(retry_not_due=Q(registration_next_attempt_at__gt=Now()))
        .first()
    )


def product_register(*, product_id: uuid.UUID) -> RegistrationOutcome:
    """Register the product with the Offers service (DESIGN §3).

    201 and 409 mean registered. A 422 marks it `failed` with the service's message; any other
    failure counts an attempt, records the message and asks for a retry after a backoff, until
    REGISTRATION_MAX_ATTEMPTS make it `failed`. Whoever made the failed attempt schedules the
    next: a call before that time (another task, the periodic run) does nothing, so the backoff
    holds however many times a registration is asked for. Inactive products (suspended, or of a
    deactivated owner) and registered ones are left alone. Never raises OffersError.
    """
    with lease(f"offers-register:{product_id}", seconds=_registration_lease_seconds()) as won:
        if not won:
            return RegistrationOutcome(registered=False, error="already being registered")
        tracking = _active_tracking_of(product_id)
        if tracking is None:
            return RegistrationOutcome(registered=False, error="no such active product")
        if tracking.is_registered:
            return RegistrationOutcome(registered=True)
        if tracking.registration_state != RegistrationState.PENDING:
            return RegistrationOutcome(registered=False, error=tracking.registration_error)
        if tracking.retry_not_due:
            return RegistrationOutcome(registered=False, error="the next attempt is not due yet")
        product = tracking.product
        try:
            get_offers_client().register_product(
                product_id=product.pk, name=product.name, description=product.description
            )
        except OffersError as error:
            return _registration_failed(tracking, error)
        ProductTracking.objects.filter(pk=product.pk).update(
            registration_state=RegistrationState.REGISTERED,
            registration_error="",
            registration_attempts=F("registration_attempts") + 1,
            registration_next_attempt_at=None,
            registered_at=Now(),
        )
        logger.info("Registered product %s with the Offers service", product.pk)
        return RegistrationOutcome(registered=True, registered_now=True)


def _registration_failed(tracking: ProductTracking, error: OffersError) -> RegistrationOutcome:
    product_id = tracking.product_id
    attempts = tracking.registration_attempts + 1
    message = str(error)
    if isinstance(error, OffersRejected) or attempts >= REGISTRATION_MAX_ATTEMPTS:
        state, retry_in, next_at = RegistrationState.FAILED, None, None
        logger.warning("Registration of product %s failed for good: %s", product_id, message)
    else:
        state, retry_in = RegistrationState.PENDING, registration_backoff(attempts)
        next_at = Now() + timedelta(seconds=retry_in)
        logger.info(
            "Registration of product %s failed (%s); retry in %.0f s", product_id, message, retry_in
        )
    ProductTracking.objects.filter(pk=product_id).update(
        registration_state=state,
        registration_error=message,
        registration_attempts=attempts,
        registration_next_attempt_at=next_at,
    )
    return RegistrationOutcome(registered=False, retry_in=retry_in, error=message)


def product_register_again(*, product: Product) -> None:
    """Back to `pending` with a fresh count of attempts, unless registered; registers nothing
    (product_registration_request also queues the registration)."""
    ProductTracking.objects.filter(pk=product.pk).exclude(
        registration_state=RegistrationState.REGISTERED
    ).update(
        registration_state=RegistrationState.PENDING,
        registration_error="",
        registration_attempts=0,
        registration_next_attempt_at=None,
    )


def products_due_for_registration() -> list[uuid.UUID]:
    """Pending, active products whose retry is overdue (its task was lost), or that were never
    tried: what the periodic run enqueues, as a safety net under each registration's own task.
    A product enqueued twice is still tried once per backoff (product_register)."""
    lost = Now() - timedelta(seconds=REGISTRATION_LOST_AFTER)
    return list(
        ProductTracking.objects.active()
        .pending()
        .filter(
            Q(registration_next_attempt_at__isnull=True) | Q(registration_next_attempt_at__lte=lost)
        )
        .values_list("pk", flat=True)
    )


# --- Sync of one product -------------------------------------------------------------------------


class SyncResult(enum.StrEnum):
    """How one sync of one product ended (not the product's state: pricing.status has that)."""

    SYNCED = "synced"
    FAILED = "failed"
    SKIPPED = "skipped"  # suspended, not registered, or already being synced
    # The service forgot the product (404): it is pending again, and its registration (which
    # syncs on success) is the caller's next step, outside this sync's lease.
    NEEDS_REGISTRATION = "needs_registration"


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    result: SyncResult
    error: str = ""
    offers: int = 0
    observations: int = 0


def offers_sync(*, product_id: uuid.UUID, run_id: int | None = None) -> SyncOutcome:
    """Fetch the product's offers and store them (DESIGN §3).

    The HTTP call comes first; then one transaction upserts offers by the service's id, marks
    offers missing from the answer as no longer current (their rows and history stay), writes an
    observation for each new or changed offer and one snapshot, stamped with the time the answer
    arrived. A failure changes nothing but the product's sync error fields. A 404 sends the
    product back to `pending` and ends with NEEDS_REGISTRATION. Records the outcome in the run
    `run_id` when given, whatever happened: an unexpected error (a bug, the database failing)
    is a FAILED outcome, never an exception that would leave the run unfinished.
    """
    try:
        with lease(f"offers-sync:{product_id}", seconds=_product_lease_seconds()) as held:
            if held:
                outcome = _sync_leased(product_id, held)
            else:
                outcome = SyncOutcome(SyncResult.SKIPPED, error="already being synced")
    except Exception as error:
        logger.exception("Sync of product %s failed unexpectedly", product_id)
        outcome = _sync_broke(product_id, error)
    if run_id is not None:
        sync_run_record(run_id=run_id, product_id=product_id, outcome=outcome)
    return outcome


def _sync_leased(product_id: uuid.UUID, held: HeldLease) -> SyncOutcome:
    tracking = _active_tracking_of(product_id)
    if tracking is None or not tracking.is_registered:
        return SyncOutcome(SyncResult.SKIPPED, error="not an active registered product")
    product = tracking.product
    try:
        offers = get_offers_client().get_offers(product_id=product.pk)
    except ProductNotRegistered:
        # The service lost the registration (it can): pending again, registered by the caller.
        logger.warning("Offers service forgot product %s; it needs registering again", product.pk)
        ProductTracking.objects.filter(pk=product.pk).update(
            registration_state=RegistrationState.PENDING,
            registered_at=None,
            registration_next_attempt_at=None,
        )
        return SyncOutcome(
            SyncResult.NEEDS_REGISTRATION,
            error="The Offers service no longer knew the product; it is being registered again.",
        )
    except OffersError as error:
        logger.warning("Sync of product %s failed: %s", product.pk, error)
        return _sync_failed(product.pk, str(error))
    arrived = time.monotonic()
    try:
        # The lease is given back in the store's transaction: a commit less per sync (each commit
        # waits for the disk on PostgreSQL), and the offers and the release land together.
        with transaction.atomic():
            # The database's clock turned back to when the answer arrived: the time since then
            # is read before the query, whose statement starts after it, so the stamp is never
            # earlier than the arrival, however long the query waits for the database.
            since_arrival = timedelta(seconds=time.monotonic() - arrived)
            now = held.held_now()
            at = None if now is None else now - since_arrival
            if at is None:
                # Our lease ran out during a slow call and another sync has taken the product:
                # its answer is newer than ours, or will be. Storing ours could put old prices
                # last in the history.
                return SyncOutcome(SyncResult.SKIPPED, error="lease lost during the call")
            if not _still_syncable(product_id):
                return SyncOutcome(
                    SyncResult.SKIPPED, error="suspended, deactivated or deleted during the sync"
                )
            observations = offers_store(product=product, offers=offers, at=at)
            held.release()
    except IntegrityError:
        # Deleted (or its owner) between the check and the commit: the rows we wrote point at
        # nothing. Anything else is a real failure for offers_sync to report.
        if Product.objects.filter(pk=product_id).exists():
            raise
        return SyncOutcome(SyncResult.SKIPPED, error="deleted during the sync")
    return SyncOutcome(SyncResult.SYNCED, offers=len(offers), observations=observations)


def _still_syncable(product_id: uuid.UUID) -> bool:
    """In the store's transaction: the product is still active and registered; its tracking
    row stays locked until the commit (PostgreSQL), so a suspension or "Register again" waits
    for the store instead of crossing it."""
    return (
        ProductTracking.objects.active()
        .registered()
        .select_for_update(of=("self",))
        .filter(pk=product_id)
        .exists()
    )


def _sync_failed(product_id: uuid.UUID, message: str) -> SyncOutcome:
    """Count a failed sync on the product, with its error (for staff)."""
    ProductTracking.objects.filter(pk=product_id).update(
        last_sync_error=message,
        last_sync_error_at=Now(),
        sync_failures=F("sync_failures") + 1,
    )
    return SyncOutcome(SyncResult.FAILED, error=message)


def _sync_broke(product_id: uuid.UUID, error: Exception) -> SyncOutcome:
    """An unexpected error: recorded on the product if the database lets us, and as the run's
    outcome for it in any case."""
    message = f"Internal error during the sync ({type(error).__name__}); it is retried next run."
    try:
        return _sync_failed(product_id, message)
    except Exception:
        logger.exception("Could not record the failure of product %s", product_id)
        return SyncOutcome(SyncResult.FAILED, error=message)


def offers_store(*, product: Product, offers: Sequence[OfferData], at: datetime) -> int:
    """Make `offers` (a whole, validated answer) the product's current offers, in one
    transaction and a constant number of queries. Returns the number of observations written."""
    answered = {offer.id: offer for offer in offers}
    # No savepoint when nested (offers_sync): a failure here fails the caller's transaction too.
    with transaction.atomic(savepoint=False):
        # Only the rows this answer can touch: the current ones and any returning ids.
        known = {
            offer.offer_id: offer
            for offer in Offer.objects.filter(product=product).filter(
                Q(is_current=True) | Q(offer_id__in=list(answered))
            )
        }
        new, changed, seen_unchanged, observations = [], [], [], []
        for offer_id, data in answered.items():
            row = known.get(offer_id)
            if row is None:
                row = Offer(
                    product=product,
                    offer_id=offer_id,
                    price=data.price,
                    items_in_stock=data.items_in_stock,
                    is_current=True,
                    first_seen_at=at,
                    last_seen_at=at,
                )
                new.append(row)
            elif not row.is_current or (row.price, row.items_in_stock) != (
                data.price,
                data.items_in_stock,
            ):
                # Changed, or back after selling out: the observation also marks the return,
                # so the history shows the gap instead of carrying a price through it.
                row.price, row.items_in_stock = data.price, data.items_in_stock
                row.is_current, row.last_seen_at = True, at
                changed.append(row)
            else:
                seen_unchanged.append(row.pk)
                continue
            observations.append(
                OfferObservation(
                    offer=row,
                    product=product,
                    observed_at=at,
                    price=data.price,
                    items_in_stock=data.items_in_stock,
                )
            )
        Offer.objects.bulk_create(new)
        Offer.objects.bulk_update(
            changed, ["price", "items_in_stock", "is_current", "last_seen_at"]
        )
        if seen_unchanged:
            Offer.objects.filter(pk__in=seen_unchanged).update(last_seen_at=at)
        vanished = [
            row.pk for offer_id, row in known.items() if row.is_current and offer_id not in answered
        ]
        if vanished:
            # Sold out: out of the current list; the row and its history stay.
            Offer.objects.filter(pk__in=vanished).update(is_current=False)
        OfferObservation.objects.bulk_create(observations)
        stats = offer_statistics((o.price, o.items_in_stock) for o in offers)
        # The snapshot's columns are the statistics' fields, one for one.
        ProductSnapshot.objects.create(product=product, taken_at=at, **asdict(stats))
        ProductTracking.objects.filter(pk=product.pk).update(
            last_synced_at=at, last_sync_error="", last_sync_error_at=None, sync_failures=0
        )
    return len(observations)


# --- Requests from people: "Sync now" and "Register again" -------------------------------------
# Both are rate-limited per product, whoever asks (the page, the API, staff), and per user over
# all their products (staff's admin actions aside): the Offers service is not ours to hammer.
# The caller has checked that the asker may see the product.

USER_REQUEST_WINDOW = 60  # seconds: SYNC_NOW_PER_USER_PER_MINUTE


def _user_request_wait(user) -> int:
    """0 when `user` may ask for another sync or registration now (and it is counted), else the
    seconds until they may. A fixed window per minute, counted in the shared cache."""
    now = time.time()
    key = f"pricing:user-requests:{user.pk}:{int(now // USER_REQUEST_WINDOW)}"
    cache.add(key, 0, timeout=USER_REQUEST_WINDOW + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        count = 1
        cache.set(key, count, timeout=USER_REQUEST_WINDOW + 5)
    if count <= settings.SYNC_NOW_PER_USER_PER_MINUTE:
        return 0
    return int(USER_REQUEST_WINDOW - now % USER_REQUEST_WINDOW) + 1


class SyncRequestOutcome(enum.StrEnum):
    QUEUED = "queued"
    COOLING_DOWN = "cooling_down"  # asked moments ago: see SyncRequest.cooldown
    USER_LIMIT = "user_limit"  # the asker's requests this minute: see SyncRequest.retry_after
    NOT_REGISTERED = "not_registered"  # registering, or registration failed
    SUSPENDED = "suspended"
    OWNER_INACTIVE = "owner_inactive"  # the owner is deactivated: only staff see the product


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What became of a sync request. requested_at (aware, UTC): when it was queued (a sync
    that finishes after it answers the request); None unless QUEUED. cooldown: the seconds
    between two requests for one product. retry_after: for USER_LIMIT, the seconds until the
    asker may ask again."""

    outcome: SyncRequestOutcome
    requested_at: datetime | None
    cooldown: int
    retry_after: int | None = None


def product_sync_request(*, product: Product, requested_by=None) -> SyncRequest:
    """Queue a sync of the product now, at most once per SYNC_NOW_COOLDOWN seconds per product,
    and SYNC_NOW_PER_USER_PER_MINUTE times a minute per `requested_by` (None: staff, in bulk)."""
    cooldown = settings.SYNC_NOW_COOLDOWN
    status = sync_status(product, now=timezone.now())  # no query when the tracking is joined
    if status.state is SyncState.SUSPENDED:
        return SyncRequest(SyncRequestOutcome.SUSPENDED, None, cooldown)
    if not product.owner.is_active:
        return SyncRequest(SyncRequestOutcome.OWNER_INACTIVE, None, cooldown)
    if not status.can_sync:
        return SyncRequest(SyncRequestOutcome.NOT_REGISTERED, None, cooldown)
    if requested_by is not None and (wait := _user_request_wait(requested_by)):
        return SyncRequest(SyncRequestOutcome.USER_LIMIT, None, cooldown, retry_after=wait)
    # The lease is never released: it expires, which is what makes it a rate limit.
    if not lease_claim(name=f"sync-now:{product.pk}", seconds=cooldown):
        return SyncRequest(SyncRequestOutcome.COOLING_DOWN, None, cooldown)
    from pricing.tasks import sync_product_task  # tasks import this module

    # The database's clock, as the sync's stamps; before enqueuing: a quick worker may finish
    # at once.
    requested_at = database_now()
    sync_product_task(product.pk)
    return SyncRequest(SyncRequestOutcome.QUEUED, requested_at, cooldown)


class RegistrationRequestOutcome(enum.StrEnum):
    QUEUED = "queued"
    COOLING_DOWN = "cooling_down"  # asked moments ago: see RegistrationRequest.cooldown
    USER_LIMIT = "user_limit"  # see RegistrationRequest.retry_after
    ALREADY_REGISTERED = "already_registered"
    SUSPENDED = "suspended"
    OWNER_INACTIVE = "owner_inactive"


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """What became of a "Register again". requested_at (aware, UTC): when it was queued; None
    unless QUEUED. cooldown: the seconds between two requests for one product. retry_after: for
    USER_LIMIT, the seconds until the asker may ask again."""

    outcome: RegistrationRequestOutcome
    requested_at: datetime | None
    cooldown: int
    retry_after: int | None = None


def product_registration_request(*, product: Product, requested_by=None) -> RegistrationRequest:
    """ "Register again": a product whose registration failed (or is waiting to retry) starts
    over, pending with a fresh count of attempts, and its registration is queued now (a success
    syncs it at once). At most once per SYNC_NOW_COOLDOWN seconds per product; counted with the
    user's syncs (SYNC_NOW_PER_USER_PER_MINUTE) when `requested_by` is given."""
    cooldown = settings.SYNC_NOW_COOLDOWN
    status = sync_status(product, now=timezone.now())
    if status.state is SyncState.SUSPENDED:
        return RegistrationRequest(RegistrationRequestOutcome.SUSPENDED, None, cooldown)
    if not product.owner.is_active:
        return RegistrationRequest(RegistrationRequestOutcome.OWNER_INACTIVE, None, cooldown)
    if status.registration_state == RegistrationState.REGISTERED:
        return RegistrationRequest(RegistrationRequestOutcome.ALREADY_REGISTERED, None, cooldown)
    if requested_by is not None and (wait := _user_request_wait(requested_by)):
        return RegistrationRequest(
            RegistrationRequestOutcome.USER_LIMIT, None, cooldown, retry_after=wait
        )
    if not lease_claim(name=f"register-again:{product.pk}", seconds=cooldown):
        return RegistrationRequest(RegistrationRequestOutcome.COOLING_DOWN, None, cooldown)
    from pricing.tasks import register_product_task  # tasks import this module

    requested_at = database_now()
    product_register_again(product=product)
    register_product_task(product.pk)
    return RegistrationRequest(RegistrationRequestOutcome.QUEUED, requested_at, cooldown)


# --- Sync runs -----------------------------------------------------------------------------------


def sync_run_lease_seconds() -> float:
    """How long a run may hold the run lease: several intervals, then a dead run is forgotten."""
    return max(5 * settings.OFFERS_SYNC_INTERVAL, 2 * _product_lease_seconds())


@dataclass(frozen=True, slots=True)
class SyncRunPlan:
    run: SyncRun
    product_ids: list[uuid.UUID]


def sync_run_start(*, product_ids: Sequence[uuid.UUID] | None = None) -> SyncRunPlan | None:
    """Open a run over the active registered products (or `product_ids` among them).

    Returns None when another run still holds the run lease (runs never overlap). The run holds
    the lease until its last product is recorded (sync_run_record), or until it expires.
    """
    seconds = sync_run_lease_seconds()
    holder = lease_claim(name=SYNC_RUN_LEASE, seconds=seconds)
    if holder is None:
        return None
    started_at = database_now()
    tracked = ProductTracking.objects.active().registered()
    if product_ids is not None:
        tracked = tracked.filter(pk__in=product_ids)
    ids = list(tracked.order_by("pk").values_list("pk", flat=True))
    run = SyncRun.objects.create(
        started_at=started_at,
        products_total=len(ids),
        lease_holder=holder,
        # At least the lease's own expiry (claimed just before): stalled means it has run out.
        lease_expires_at=started_at + timedelta(seconds=seconds),
    )
    if not ids:
        _sync_run_finish(run.pk)
    return SyncRunPlan(run=run, product_ids=ids)


# A locked SQLite database or a dropped connection must not lose an outcome: the run would never
# finish, and its lease would hold off every run until it expired.
@retry(
    retry=retry_if_exception_type(OperationalError),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
def sync_run_record(*, run_id: int, product_id: uuid.UUID, outcome: SyncOutcome) -> None:
    """Count one product's outcome into its run; the last one finishes the run. A product that
    needs registering again counts as failed: this run got no offers for it."""
    counter = {
        SyncResult.SYNCED: "products_synced",
        SyncResult.FAILED: "products_failed",
        SyncResult.NEEDS_REGISTRATION: "products_failed",
        SyncResult.SKIPPED: "products_skipped",
    }[outcome.result]
    with transaction.atomic():
        # Row lock on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers anyway.
        run = SyncRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return
        setattr(run, counter, getattr(run, counter) + 1)
        fields = [counter]
        if counter == "products_failed":
            run.errors = {**run.errors, str(product_id): outcome.error}
            fields.append("errors")
        run.save(update_fields=fields)
        done = run.products_synced + run.products_failed + run.products_skipped
    if done >= run.products_total:
        _sync_run_finish(run_id)


def _sync_run_finish(run_id: int) -> None:
    run = SyncRun.objects.get(pk=run_id)
    if SyncRun.objects.filter(pk=run_id, finished_at__isnull=True).update(finished_at=Now()):
        lease_release(name=SYNC_RUN_LEASE, holder=run.lease_holder)


def sync_run_due(*, interval: float) -> bool:
    """For intervals of a minute or more: has `interval` passed since the last run started?

    A few seconds of slack, so that a run due at 120 s is not pushed to the next minute because
    the scheduler fired a moment early.
    """
    # The database's clock, and a run stamped in its future (before the clock was set back) does
    # not count: otherwise no run would be due until the clock caught up.
    recent = Now() - timedelta(seconds=interval - 5)
    return not SyncRun.objects.filter(started_at__gt=recent, started_at__lte=Now()).exists()


# --- Scheduler heartbeat -------------------------------------------------------------------------


def scheduler_heartbeat(*, now: datetime) -> None:
    """Record that the scheduler ran at `now` (aware): the scheduler's Heartbeat row then holds
    `now`, created by the first beat. One statement (an upsert), so it cannot fail on a row that
    another consumer created in between (two consumers wrongly running the scheduler)."""
    Heartbeat.objects.bulk_create(
        [Heartbeat(name=Heartbeat.SCHEDULER, beat_at=now)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["beat_at"],
    )
