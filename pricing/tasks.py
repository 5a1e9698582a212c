"""Huey tasks: thin wrappers that load ids and call the services (pricing.services).

Exactly one consumer runs the periodic task (the scheduler); others start with --no-periodic.
Product ids cross the queue as UUIDs (or their text, from older queued tasks) and are UUIDs from
here inward, so that every lease name spells a product the same way.
"""

import logging
import math
import uuid

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from pricing import services
from pricing.leases import lease
from pricing.times import database_now

logger = logging.getLogger(__name__)


@db_task()
def register_product_task(product_id: uuid.UUID | str) -> None:
    """Register; on success sync at once (first offers within seconds). A failed attempt
    schedules the next one here, after its backoff: the only driver of retries, which the
    periodic run replaces only when this task was lost."""
    product_id = uuid.UUID(str(product_id))
    outcome = services.product_register(product_id=product_id)
    if outcome.registered_now:
        sync_product_task(product_id)
    elif outcome.retry_in is not None:
        register_product_task.schedule(args=(product_id,), delay=outcome.retry_in)


@db_task()
def sync_batch_task(product_ids: list[uuid.UUID | str], run_id: int | None = None) -> None:
    """Sync a batch (pricing.sync); the products the service forgot are registered again
    (which syncs each on success)."""
    outcomes = services.offers_sync_batch(
        product_ids=[uuid.UUID(str(product_id)) for product_id in product_ids], run_id=run_id
    )
    for product_id, outcome in outcomes.items():
        if outcome.result is services.SyncResult.NEEDS_REGISTRATION:
            register_product_task(product_id)


@db_task()
def sync_product_task(product_id: uuid.UUID | str, run_id: int | None = None) -> None:
    """Sync one product now ("Sync now", a new product's first sync): a batch of one."""
    sync_batch_task.call_local([product_id], run_id)


@db_task()
def sync_run_task() -> None:
    """One run: a sync task per batch of active registered products, and the registrations
    whose own retry task was lost (services.products_due_for_registration).

    A task per batch, so more consumers sync more batches in parallel.
    """
    run = services.sync_run_start()
    if run is None:
        logger.info("Previous sync run still in progress; skipping this one")
    else:
        services.sync_run_enqueue(run=run, enqueue=lambda batch: sync_batch_task(batch, run.pk))
    # Products registered now are synced by their registration task, not by this run.
    for product_id in services.products_due_for_registration():
        register_product_task(product_id)


@db_task()
def alerts_deliver_task(firing_ids: list[int]) -> None:
    """Deliver new firings (emails due now, webhooks), once their sync's store has committed."""
    services.alerts_deliver(firing_ids=firing_ids)


# A webhook gets WEBHOOK_ATTEMPTS tries: at once, then after 2, 4, 8, 16 and 32 minutes
# (Huey's retries; the delay doubles each time), the last about an hour after the first.
WEBHOOK_ATTEMPTS = 6
WEBHOOK_RETRY_DELAY = 120
WEBHOOK_RETRY_BACKOFF = 2


class WebhookDeliveryFailed(Exception):
    """An attempt failed and is worth another: raised so that Huey retries the task."""


@db_task(
    retries=WEBHOOK_ATTEMPTS - 1,
    retry_delay=WEBHOOK_RETRY_DELAY,
    retry_backoff=WEBHOOK_RETRY_BACKOFF,
)
def webhook_deliver_task(firing_id: int, attempt: int = 1) -> None:
    """POST a firing to its owner's webhook. A retry runs with these same arguments: the
    service numbers the attempt after those recorded. A refused URL is not retried."""
    outcome = services.webhook_deliver(firing_id=firing_id, attempt=attempt)
    if outcome is services.WebhookOutcome.FAILED:
        raise WebhookDeliveryFailed(f"Webhook of firing {firing_id} failed")


@db_periodic_task(crontab(minute="*"))
def alert_emails_task() -> None:
    """Every minute: the alert emails that came due (held by quiet hours, daily digests, and
    any whose send failed before), and the webhooks whose task was lost."""
    now = database_now()
    services.alert_emails_send(now=now)
    services.webhooks_resend_forgotten(now=now)


# Held while pruning: a run that outlasts the next schedule is not joined by a second one.
PRUNE_LEASE = "history-prune"


@db_periodic_task(crontab(minute="*/10"))
def prune_history_task() -> None:
    """Every ten minutes: delete raw history older than HISTORY_RAW_DAYS (pricing.retention),
    at most HISTORY_PRUNE_MAX_ROWS rows a run, so a backlog goes in bounded steps."""
    with lease(PRUNE_LEASE, seconds=600) as held:
        if held is None:
            logger.info("History pruning already in progress; skipping")
            return
        result = services.history_prune(now=timezone.now())
    if result.snapshots or result.observations:
        logger.info(
            "Pruned %d snapshots and %d observations older than %s%s",
            result.snapshots,
            result.observations,
            result.horizon,
            "" if result.done else " (more left for the next run)",
        )


@db_periodic_task(crontab(minute="*"))
def schedule_sync_runs() -> None:
    """Every minute (crontab's resolution): start the runs of the coming minute.

    An interval under a minute is served by scheduling sub-runs within it; longer intervals
    start a run on the minutes when one is due. The run lease keeps runs from overlapping.
    The heartbeat comes first, before anything that can fail: it says the scheduler is alive,
    and a failing run shows in the runs themselves.
    """
    services.scheduler_heartbeat(now=timezone.now())
    interval = settings.OFFERS_SYNC_INTERVAL
    if interval < 60:
        for index in range(math.ceil(60 / interval)):
            sync_run_task.schedule(delay=index * interval)
    elif services.sync_run_due(interval=interval):
        sync_run_task()
