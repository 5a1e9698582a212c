"""How the Offers side is doing: sync runs (the latest for everyone, the recent ones for staff),
the scheduler's heartbeat, products overdue for a sync or failing, registrations that are stuck,
the shared Offers access token and the task queue. Re-exported by pricing.selectors, the
interfaces' way in.

Times in are aware datetimes (a naive one raises ValueError); times out are aware, in UTC, and
durations are timedeltas. Every selector here runs a constant number of queries, whatever the
size of the catalogue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import Coalesce
from huey.contrib.djhuey import HUEY

from pricing.models import (
    Heartbeat,
    OffersAccessToken,
    ProductTracking,
    RegistrationState,
    SyncRun,
)
from pricing.status import stale_after
from pricing.times import utc

# The periodic task beats once a minute, whatever OFFERS_SYNC_INTERVAL is: it runs every minute
# (crontab's resolution) and schedules shorter intervals' sub-runs itself. Three missed beats,
# not one, so that a busy consumer or a restart is not reported as a dead scheduler.
SCHEDULER_TICK = timedelta(minutes=1)
SCHEDULER_STALE_AFTER = 3 * SCHEDULER_TICK

RECENT_RUNS = 10
PANEL_ROWS = 20


# --- Sync runs -----------------------------------------------------------------------------------


class RunState(StrEnum):
    RUNNING = "running"
    STALLED = "stalled"  # unfinished when its lease ran out: a worker died or hangs
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class SyncRunSummary:
    """One periodic sync run, as users and staff see it. Times aware, UTC."""

    started_at: datetime
    finished_at: datetime | None
    products_total: int
    products_synced: int
    products_failed: int
    products_skipped: int
    state: RunState

    @property
    def duration(self) -> timedelta | None:
        """How long the run took; None while it is unfinished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


def _run_summary(run: SyncRun, *, now: datetime) -> SyncRunSummary:
    if run.is_finished:
        state = RunState.FINISHED
    else:
        state = RunState.STALLED if run.is_stalled(now=now) else RunState.RUNNING
    return SyncRunSummary(
        started_at=run.started_at,
        finished_at=run.finished_at,
        products_total=run.products_total,
        products_synced=run.products_synced,
        products_failed=run.products_failed,
        products_skipped=run.products_skipped,
        state=state,
    )


def _runs_newest_first() -> QuerySet[SyncRun]:
    # `errors` holds a message per failed product: large when the service is down, and unshown.
    return SyncRun.objects.order_by("-started_at", "-id").defer("errors")


def latest_sync_run(*, now: datetime) -> SyncRunSummary | None:
    """The most recently started sync run (finished or not) at `now`, or None before the
    first. One query."""
    run = _runs_newest_first().first()
    return None if run is None else _run_summary(run, now=now)


# --- The scheduler -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchedulerStatus:
    """The scheduler's last heartbeat (None when it never beat), whether it is alive (the beat
    is at most SCHEDULER_STALE_AFTER old), and for how long it has been silent (None when it
    never beat; zero for a beat stamped ahead of `now` by another machine's clock)."""

    last_beat_at: datetime | None
    alive: bool
    silent_for: timedelta | None


def scheduler_status(*, now: datetime) -> SchedulerStatus:
    """Whether the scheduler is alive at `now`. Not alive before its very first beat either:
    then nothing has ever been synced. One query."""
    now = utc(now, "now")
    last_beat_at = (
        Heartbeat.objects.filter(name=Heartbeat.SCHEDULER).values_list("beat_at", flat=True).first()
    )
    if last_beat_at is None:
        return SchedulerStatus(last_beat_at=None, alive=False, silent_for=None)
    silent_for = max(now - last_beat_at, timedelta(0))
    return SchedulerStatus(
        last_beat_at=last_beat_at,
        alive=silent_for <= SCHEDULER_STALE_AFTER,
        silent_for=silent_for,
    )


# --- Products that need staff --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackedProduct:
    """A product as the staff's panels list it, with its registration and sync state. Times
    aware, UTC; None when it has not happened (never registered, synced, failed)."""

    product_id: uuid.UUID
    name: str
    owner_email: str
    registration_error: str
    registration_attempts: int
    registration_next_attempt_at: datetime | None
    registered_at: datetime | None
    last_synced_at: datetime | None
    sync_failures: int  # consecutive
    last_sync_error: str
    last_sync_error_at: datetime | None


_TRACKED_PRODUCT_FIELDS = (
    "product_id",
    "product__name",
    "product__owner__email",
    "registration_error",
    "registration_attempts",
    "registration_next_attempt_at",
    "registered_at",
    "last_synced_at",
    "sync_failures",
    "last_sync_error",
    "last_sync_error_at",
)


@dataclass(frozen=True, slots=True)
class ProductPanel:
    """How many products are in a panel (`count`) and the first PANEL_ROWS of them, in the
    panel's order (`products`)."""

    count: int
    products: list[TrackedProduct]


def _panel(tracking: QuerySet[ProductTracking], *ordering) -> ProductPanel:
    """One query: the window count is taken over every matching row, before the LIMIT."""
    rows = list(
        tracking.annotate(matching=Window(Count("pk")))
        .order_by(*ordering, "product_id")
        .values_list("matching", *_TRACKED_PRODUCT_FIELDS)[:PANEL_ROWS]
    )
    count = rows[0][0] if rows else 0
    return ProductPanel(count=count, products=[TrackedProduct(*row[1:]) for row in rows])


def _overdue(now: datetime) -> ProductPanel:
    # A product never synced is due from its registration, or from its creation when its row
    # holds no registration time (set by hand).
    due_since = Coalesce("last_synced_at", "registered_at", "product__created_at")
    overdue = (
        ProductTracking.objects.active()
        .registered()
        .alias(due_since=due_since)
        .filter(due_since__lt=now - stale_after())
    )
    return _panel(overdue, F("due_since").asc())


def _failing() -> ProductPanel:
    failing = ProductTracking.objects.active().registered().filter(sync_failures__gt=0)
    return _panel(failing, "-sync_failures", F("last_sync_error_at").desc(nulls_last=True))


def _registrations(state: RegistrationState) -> ProductPanel:
    # Most attempts first: the products that keep failing, then the longest waiting.
    stuck = ProductTracking.objects.active().filter(registration_state=state)
    return _panel(stuck, "-registration_attempts", "product__created_at")


# --- The Offers access token and the task queue --------------------------------------------------


@dataclass(frozen=True, slots=True)
class OffersTokenState:
    """The shared Offers access token as staff may see it: never the token itself.

    obtained_at: when the service issued it; valid_until: when it expires by our count (both
    None when no token is stored). locked_out_until: when the last lockout ends at the latest
    (the service refused a new token while another was valid and none was stored here); None
    when none happened since the last token was stored. A past one stays until the next token.
    refresh_token_configured: whether OFFERS_REFRESH_TOKEN is set.
    """

    obtained_at: datetime | None
    valid_until: datetime | None
    is_valid: bool  # stored and not expired at `now`
    locked_out_until: datetime | None
    is_locked_out: bool  # locked_out_until is after `now`
    refresh_token_configured: bool


def offers_token_state(*, now: datetime) -> OffersTokenState:
    """The Offers access token's state at `now`. One query, which does not read the token."""
    now = utc(now, "now")
    row = (
        OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK)
        .values_list("obtained_at", "expires_at", "locked_out_until")
        .first()
    )
    # A row without a token, created by a lockout, has neither time.
    obtained_at, valid_until, locked_out_until = row or (None, None, None)
    return OffersTokenState(
        obtained_at=obtained_at,
        valid_until=valid_until,
        is_valid=valid_until is not None and now < valid_until,
        locked_out_until=locked_out_until,
        is_locked_out=locked_out_until is not None and now < locked_out_until,
        refresh_token_configured=bool(settings.OFFERS_REFRESH_TOKEN),
    )


@dataclass(frozen=True, slots=True)
class QueueState:
    """The tasks in the Huey queue: `pending`, waiting for a consumer (a task delayed by its
    caller waits here too until a consumer takes it), and `scheduled`, held by a consumer for
    later (delayed retries, registrations and sub-minute runs). Both None when the queue could
    not be asked, with the reason in `error`."""

    pending: int | None
    scheduled: int | None
    error: str = ""


def task_queue_state() -> QueueState:
    """What the queue holds now: asks the Huey storage (Redis or its SQLite file), not the
    database."""
    try:
        return QueueState(pending=HUEY.pending_count(), scheduled=HUEY.scheduled_count())
    except Exception as error:  # each storage has its own errors (redis, sqlite3): any will do
        return QueueState(pending=None, scheduled=None, error=f"{type(error).__name__}: {error}")


# --- The staff's health page ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StaffHealth:
    """Everything the staff's health page shows. Times aware, UTC.

    overdue: active registered products with no successful sync for longer than `overdue_after`
    (stale_after(); counted from their registration when never synced), the longest overdue
    first. failing: active registered products whose last syncs failed, the most consecutive
    failures first. registrations_pending and registrations_failed: active products whose
    registration is still being tried or failed for good, the most attempts first. Active: not
    suspended, owner not deactivated (ProductTracking.objects.active()).
    """

    scheduler: SchedulerStatus
    runs: list[SyncRunSummary]  # the RECENT_RUNS latest, newest first
    overdue: ProductPanel
    overdue_after: timedelta
    failing: ProductPanel
    registrations_pending: ProductPanel
    registrations_failed: ProductPanel
    token: OffersTokenState
    queue: QueueState

    @property
    def last_run(self) -> SyncRunSummary | None:
        return self.runs[0] if self.runs else None


def staff_health(*, now: datetime) -> StaffHealth:
    """The health of the Offers side at `now`, for staff. Seven queries, plus one look at the
    task queue."""
    now = utc(now, "now")
    return StaffHealth(
        scheduler=scheduler_status(now=now),
        runs=[_run_summary(run, now=now) for run in _runs_newest_first()[:RECENT_RUNS]],
        overdue=_overdue(now),
        overdue_after=stale_after(),
        failing=_failing(),
        registrations_pending=_registrations(RegistrationState.PENDING),
        registrations_failed=_registrations(RegistrationState.FAILED),
        token=offers_token_state(now=now),
        queue=task_queue_state(),
    )
