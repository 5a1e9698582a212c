"""Writes of the Offers side: registration, requests from people ("Sync now", "Register
again"), the scheduler's heartbeat, and the sync pipeline's entry points (pricing.sync, where
batches and runs are). With pricing.selectors, the interfaces' way into pricing.

Rules (DESIGN §3, §5): every HTTP call happens outside a database transaction; a failed or
malformed fetch changes nothing but the product's error fields (in its ProductTracking row);
leases keep one product from being synced or registered twice at once, and they expire, so a
killed worker cannot stop syncing for good. Product ids are uuid.UUID from the task boundary
inward.
"""

import enum
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from pricing.alerts.delivery import (
    WebhookOutcome,
    alert_emails_send,
    alerts_deliver,
    webhook_deliver,
    webhook_signature,
    webhook_signature_verify,
    webhooks_resend_forgotten,
)
from pricing.alerts.services import (
    AlertRuleNotFound,
    alert_firings_mark_read,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    alert_settings_update,
    alert_webhook_secret_rotate,
    webhook_url_check,
)
from pricing.leases import lease, lease_claim
from pricing.models import Heartbeat, ProductTracking, RegistrationState
from pricing.offers_client import OffersError, OffersRejected, get_offers_client
from pricing.retention import PruneResult, history_prune
from pricing.status import SyncState, sync_status

# The sync pipeline's entry points, for the tasks, the commands and the tests.
from pricing.sync import (
    SYNC_RUN_LEASE,
    SyncOutcome,
    SyncResult,
    offers_store,
    offers_store_many,
    offers_sync,
    offers_sync_batch,
    sync_run_due,
    sync_run_enqueue,
    sync_run_lease_seconds,
    sync_run_record,
    sync_run_start,
)
from pricing.times import database_now
from products.models import Product

# Names the module re-exports (ruff then knows the imports above are used); its own functions
# below are public as well.
__all__ = [
    "SYNC_RUN_LEASE",
    "AlertRuleNotFound",
    "PruneResult",
    "SyncOutcome",
    "SyncResult",
    "WebhookOutcome",
    "alert_emails_send",
    "alert_firings_mark_read",
    "alert_rule_create",
    "alert_rule_delete",
    "alert_rule_update",
    "alert_settings_update",
    "alert_webhook_secret_rotate",
    "alerts_deliver",
    "history_prune",
    "offers_store",
    "offers_store_many",
    "offers_sync",
    "offers_sync_batch",
    "sync_run_due",
    "sync_run_enqueue",
    "sync_run_lease_seconds",
    "sync_run_record",
    "sync_run_start",
    "webhook_deliver",
    "webhook_signature",
    "webhook_signature_verify",
    "webhook_url_check",
    "webhooks_resend_forgotten",
]

logger = logging.getLogger(__name__)

REGISTRATION_MAX_ATTEMPTS = 8
REGISTRATION_BACKOFF_BASE = 5.0  # seconds; doubles with each failed attempt
REGISTRATION_BACKOFF_MAX = 600.0


# A pending registration whose retry is this late has lost its task (a worker killed, a queue
# emptied): the periodic run enqueues it again. Earlier, its own scheduled task is on its way.
REGISTRATION_LOST_AFTER = 30.0


def _registration_lease_seconds() -> float:
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
