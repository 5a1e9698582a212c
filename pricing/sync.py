"""The sync pipeline (DESIGN §5): products synced in batches, and the runs that drive them.

A batch claims its products in one statement (each product's sync lease lives on its
ProductTracking row: SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite, whose writers take
turns), fetches their offers concurrently with one access token (OffersClient.get_offers_many),
then stores every answer in one transaction of bulk writes. It stores only for products whose
lease it still holds (fencing) and that are still active and registered, each stamped with the
time its answer arrived. A failed or malformed answer changes only its product's error fields; if
a batch's store fails as a whole, each product is stored on its own, so the one at fault fails
alone. A killed worker's leases expire after SYNC_LEASE_SECONDS; while calls are in flight a
batch renews its products' leases and its run's every LEASE_RENEW_EVERY seconds.

A run (SyncRun) enqueues the active registered products in batches, a page at a time (memory
bounded by the batch, not the catalogue), and finishes when every product it enqueued has an
outcome. Runs never overlap: the run lease, renewed by the run's batches, says one is going on.

Every HTTP call happens outside a database transaction. Product ids are uuid.UUID throughout.
"""

import enum
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from itertools import batched, islice

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Case, DateTimeField, F, Q, TextField, Value, When
from django.db.models.functions import Now
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from pricing.alerts.evaluation import alerts_evaluate
from pricing.bulk import bulk_update_values
from pricing.leases import lease_claim, lease_release
from pricing.models import (
    TRACKING_ACTIVE,
    Lease,
    Offer,
    OfferObservation,
    ProductSnapshot,
    ProductTracking,
    RegistrationState,
    SyncRun,
)
from pricing.offers_client import OfferData, OffersAnswer, ProductNotRegistered, get_offers_client
from pricing.rollups import rollups_add
from pricing.statistics import offer_statistics
from pricing.times import database_now
from products.models import Product

logger = logging.getLogger(__name__)

SYNC_RUN_LEASE = "offers-sync-run"
# The leases of a batch's products and of its run. Short, because they are renewed while the
# work goes on: a killed worker holds its products and its run for at most this long.
SYNC_LEASE_SECONDS = 60.0
LEASE_RENEW_EVERY = 10.0
# A run's error messages kept for staff (the count of failures is always exact): a service
# down for a catalogue of 10,000 would otherwise rewrite megabytes with each batch.
RUN_ERRORS_KEPT = 200
# Ids in one `IN (...)` list, under SQLite's limit on a statement's parameters.
IDS_PER_QUERY = 5000

_RELEASED = {"sync_lease_holder": "", "sync_lease_expires_at": None}


class SyncResult(enum.StrEnum):
    """How one sync of one product ended (not the product's state: pricing.status has that)."""

    SYNCED = "synced"
    FAILED = "failed"
    SKIPPED = "skipped"  # suspended, not registered, deleted, or already being synced
    # The service forgot the product (404): it is pending again, and its registration (which
    # syncs on success) is the caller's next step.
    NEEDS_REGISTRATION = "needs_registration"


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    result: SyncResult
    error: str = ""
    offers: int = 0
    observations: int = 0


# --- A batch -------------------------------------------------------------------------------------


def offers_sync(*, product_id: uuid.UUID, run_id: int | None = None) -> SyncOutcome:
    """Sync one product now ("Sync now", a new product's first sync): a batch of one."""
    return offers_sync_batch(product_ids=[product_id], run_id=run_id)[product_id]


def offers_sync_batch(
    *, product_ids: Sequence[uuid.UUID], run_id: int | None = None
) -> dict[uuid.UUID, SyncOutcome]:
    """Fetch the offers of `product_ids` and store them (DESIGN §3): each product's outcome.

    For each product: its offers upserted by the service's id, offers missing from its answer
    marked no longer current (their rows and history stay), an observation for each new or
    changed offer and one snapshot, stamped with the time its answer arrived. A failure changes
    nothing but the product's error fields; a 404 sends it back to `pending` and ends with
    NEEDS_REGISTRATION. Outcomes are recorded in the run `run_id` when given, whatever happened:
    an unexpected error (a bug, the database failing) is a FAILED outcome, never an exception
    that would leave the run unfinished.
    """
    product_ids = list(dict.fromkeys(product_ids))
    holder = uuid.uuid4().hex
    try:
        outcomes = _sync_batch(product_ids, holder, run_id)
    except Exception as error:
        logger.exception("Sync of a batch of %d products failed unexpectedly", len(product_ids))
        outcomes = _sync_broke(product_ids, holder, error)
    if run_id is not None:
        sync_run_record(run_id=run_id, outcomes=outcomes)
    return outcomes


def _sync_batch(
    product_ids: list[uuid.UUID], holder: str, run_id: int | None
) -> dict[uuid.UUID, SyncOutcome]:
    claimed = _claim(product_ids, holder)
    outcomes = _not_claimed(sorted(set(product_ids) - set(claimed)))
    if not claimed:
        return outcomes

    def renew() -> None:
        ProductTracking.objects.filter(pk__in=claimed, sync_lease_holder=holder).update(
            sync_lease_expires_at=_lease_expiry()
        )
        if run_id is not None:
            _sync_run_renew(run_id)

    answers = get_offers_client().get_offers_many(
        claimed, while_waiting=renew, every=LEASE_RENEW_EVERY
    )
    try:
        return outcomes | _store_batch(answers, holder)
    except Exception:
        logger.exception(
            "Storing a batch of %d answers failed; storing them one by one", len(answers)
        )
    for product_id, answer in answers.items():
        try:
            outcomes |= _store_batch({product_id: answer}, holder)
        except Exception as error:
            logger.exception("Storing the offers of product %s failed", product_id)
            outcomes |= _sync_broke([product_id], holder, error)
    return outcomes


def _lease_expiry():
    return Now() + timedelta(seconds=SYNC_LEASE_SECONDS)


def _claim(product_ids: Sequence[uuid.UUID], holder: str) -> list[uuid.UUID]:
    """Claim, in one statement, the sync leases of those of `product_ids` that are active,
    registered and not being synced (no lease, or an expired one); returns them."""
    if not product_ids:
        return []
    claimable = (
        ProductTracking.objects.active()
        .registered()
        .filter(pk__in=product_ids)
        .filter(Q(sync_lease_expires_at__isnull=True) | Q(sync_lease_expires_at__lte=Now()))
        # PostgreSQL: rows another batch is claiming now are passed over, not waited for.
        .select_for_update(of=("self",), skip_locked=True)
        .order_by("pk")
        .values("pk")
    )
    if connection.vendor == "postgresql":
        expiry = "STATEMENT_TIMESTAMP() + %s"
        expiry_params = [timedelta(seconds=SYNC_LEASE_SECONDS)]
    else:  # Django's own format of a datetime on SQLite, as its Now() writes it
        expiry = "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW', %s)"
        expiry_params = [f"+{SYNC_LEASE_SECONDS} seconds"]
    table = connection.ops.quote_name(ProductTracking._meta.db_table)
    # select_for_update() wants a transaction, even around one statement.
    with transaction.atomic(), connection.cursor() as cursor:
        subquery, params = claimable.query.sql_with_params()
        cursor.execute(
            f"UPDATE {table} SET sync_lease_holder = %s, sync_lease_expires_at = {expiry} "
            f"WHERE product_id IN ({subquery}) RETURNING product_id",
            [holder, *expiry_params, *params],
        )
        # UUIDs on PostgreSQL, their hex on SQLite.
        return [uuid.UUID(str(product_id)) for (product_id,) in cursor.fetchall()]


def _not_claimed(product_ids: list[uuid.UUID]) -> dict[uuid.UUID, SyncOutcome]:
    if not product_ids:
        return {}
    syncable = set(
        ProductTracking.objects.active()
        .registered()
        .filter(pk__in=product_ids)
        .values_list("pk", flat=True)
    )
    return {
        product_id: SyncOutcome(
            SyncResult.SKIPPED,
            error="already being synced"
            if product_id in syncable
            else "not an active registered product",
        )
        for product_id in product_ids
    }


class _Fence(enum.Enum):
    HELD = "held"  # still ours, and the product still active and registered
    LOST = "lost"  # our lease ran out during a slow call and another batch took the product
    INACTIVE = "inactive"  # suspended, its owner deactivated, or no longer registered


def _fence(product_ids: list[uuid.UUID], holder: str) -> tuple[Callable, dict]:
    """In the store's transaction: where each product stands (absent: deleted), and a function
    giving the database's time when an answer arrived (time.monotonic() then). The rows stay
    locked until the commit (PostgreSQL; SQLite's writers take turns anyway), so a suspension,
    a deletion or a claim by another batch waits for the store instead of crossing it."""
    # The products first, then their tracking rows: the order a deletion locks them in (the
    # cascade), so a deletion and a store wait for each other instead of deadlocking.
    list(
        Product.objects.filter(pk__in=product_ids)
        .order_by("pk")
        .select_for_update(of=("self",))
        .values_list("pk", flat=True)
    )
    # The database's clock turned back: the time since arrival is measured before the statement
    # that reads the clock starts, so no stamp is earlier than its answer's arrival, however
    # long the statement waits for locks.
    checked = time.monotonic()
    rows = (
        ProductTracking.objects.filter(pk__in=product_ids)
        .order_by("pk")
        .select_for_update(of=("self",))
        .annotate(
            now=Now(),
            syncable=TRACKING_ACTIVE & Q(registration_state=RegistrationState.REGISTERED),
        )
        .values_list("pk", "sync_lease_holder", "syncable", "now")
    )
    now, fence = None, {}
    for product_id, lease_holder, syncable, statement_time in rows:
        now = statement_time
        if lease_holder != holder:
            fence[product_id] = _Fence.LOST
        else:
            fence[product_id] = _Fence.HELD if syncable else _Fence.INACTIVE

    def stamp(arrived: float) -> datetime:
        return now - timedelta(seconds=checked - arrived)

    return stamp, fence


_SKIPPED_BECAUSE = {
    None: "deleted during the sync",
    _Fence.LOST: "lease lost during the call",
    _Fence.INACTIVE: "suspended, deactivated or deleted during the sync",
}


def _store_batch(answers: Mapping[uuid.UUID, OffersAnswer], holder: str) -> dict:
    """One transaction: every answer of products still ours stored, every failure recorded,
    their leases released."""
    outcomes, stored, failed, forgotten, released = {}, {}, {}, [], []
    with transaction.atomic():
        stamp, fence = _fence(list(answers), holder)
        for product_id, answer in answers.items():
            state = fence.get(product_id)
            if state is not _Fence.HELD:
                outcomes[product_id] = SyncOutcome(SyncResult.SKIPPED, _SKIPPED_BECAUSE[state])
                if state is _Fence.INACTIVE:
                    released.append(product_id)
            elif answer.error is None:
                stored[product_id] = (answer.offers, stamp(answer.arrived))
            elif isinstance(answer.error, ProductNotRegistered):
                forgotten.append(product_id)
                outcomes[product_id] = SyncOutcome(
                    SyncResult.NEEDS_REGISTRATION,
                    error="The Offers service no longer knew the product; it is being "
                    "registered again.",
                )
            else:
                failed[product_id] = str(answer.error)
                outcomes[product_id] = SyncOutcome(SyncResult.FAILED, error=str(answer.error))
        observations = offers_store_many(stored)
        _sync_failed(failed)
        if forgotten:
            # The service lost the registration (it can): pending again, registered by the
            # caller's next step.
            logger.warning("The Offers service forgot %d product(s): %s", len(forgotten), forgotten)
            ProductTracking.objects.filter(pk__in=forgotten).update(
                registration_state=RegistrationState.PENDING,
                registered_at=None,
                registration_next_attempt_at=None,
                **_RELEASED,
            )
        if released:
            ProductTracking.objects.filter(pk__in=released).update(**_RELEASED)
    for product_id, (offers, _) in stored.items():
        outcomes[product_id] = SyncOutcome(
            SyncResult.SYNCED, offers=len(offers), observations=observations[product_id]
        )
    return outcomes


def _by_product(values: Mapping[uuid.UUID, object], output_field, *, key: str = "pk") -> Case:
    """One value per product, for one UPDATE of many rows."""
    return Case(
        *(When(**{key: product_id}, then=Value(value)) for product_id, value in values.items()),
        output_field=output_field,
    )


def _sync_failed(errors: Mapping[uuid.UUID, str]) -> None:
    """Count a failed sync on each product, with its error (for staff), and end its lease."""
    if errors:
        ProductTracking.objects.filter(pk__in=list(errors)).update(
            last_sync_error=_by_product(errors, TextField()),
            last_sync_error_at=Now(),
            sync_failures=F("sync_failures") + 1,
            **_RELEASED,
        )


def _sync_broke(
    product_ids: Sequence[uuid.UUID], holder: str, error: Exception
) -> dict[uuid.UUID, SyncOutcome]:
    """An unexpected error: recorded on the products we hold if the database lets us, and as
    the run's outcome for each of them in any case."""
    message = f"Internal error during the sync ({type(error).__name__}); it is retried next run."
    try:
        held = ProductTracking.objects.filter(pk__in=product_ids, sync_lease_holder=holder)
        _sync_failed(dict.fromkeys(held.values_list("pk", flat=True), message))
    except Exception:
        logger.exception("Could not record the failure of %d product(s)", len(product_ids))
    return {product_id: SyncOutcome(SyncResult.FAILED, error=message) for product_id in product_ids}


# --- Storing answers -----------------------------------------------------------------------------


def offers_store(*, product: Product, offers: Sequence[OfferData], at: datetime) -> int:
    """Make `offers` (a whole, validated answer) the product's current offers, as a sync does.
    Returns the number of observations written."""
    return offers_store_many({product.pk: (offers, at)})[product.pk]


def offers_store_many(
    answers: Mapping[uuid.UUID, tuple[Sequence[OfferData], datetime]],
) -> dict[uuid.UUID, int]:
    """Make each answer (product id → its offers, and when they arrived) its product's current
    offers, in one transaction and a constant number of queries however many products; their
    sync state says synced at that time. Returns each product's number of observations written
    (new or changed offers; the vanish markers of offers that left are not counted).
    """
    if not answers:
        return {}
    product_ids = list(answers)
    # No savepoint when nested (a batch's store): a failure here fails the caller's too.
    with transaction.atomic(savepoint=False):
        known = _offers_touched(answers)
        # Before this store changes them: what the alerts' change counts compare to.
        changes = _changes_since_last_sync(answers, known)
        new, changed, observations = [], [], []
        written = dict.fromkeys(product_ids, 0)
        for product_id, (offers, at) in answers.items():
            for data in offers:
                row = known.get((product_id, data.id))
                if row is None:
                    row = Offer(
                        product_id=product_id,
                        offer_id=data.id,
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
                    continue
                written[product_id] += 1
                observations.append(
                    OfferObservation(
                        offer=row,
                        product_id=product_id,
                        observed_at=at,
                        price=data.price,
                        items_in_stock=data.items_in_stock,
                    )
                )
        answered = {(pk, data.id) for pk, (offers, _) in answers.items() for data in offers}
        gone = [row for key, row in known.items() if row.is_current and key not in answered]
        # A vanish marker for each: its last price held until this answer, not after. Not
        # counted as written (it is no new price or stock); rolled up like any observation
        # (the same price: what the per-offer lines draw is unchanged).
        markers = [
            OfferObservation(
                offer=row,
                product_id=row.product_id,
                observed_at=answers[row.product_id][1],
                price=row.price,
                items_in_stock=row.items_in_stock,
                vanished=True,
            )
            for row in gone
        ]
        Offer.objects.bulk_create(new)
        bulk_update_values(changed, ["price", "items_in_stock", "is_current", "last_seen_at"])
        if gone:
            # Sold out: out of the current list; the row and its history stay.
            Offer.objects.filter(pk__in=[row.pk for row in gone]).update(is_current=False)
        arrived = {pk: at for pk, (_, at) in answers.items()}
        # Every offer in an answer was seen when it arrived; the unchanged ones are only this.
        Offer.objects.filter(product_id__in=product_ids, is_current=True).update(
            last_seen_at=_by_product(arrived, DateTimeField(), key="product_id")
        )
        OfferObservation.objects.bulk_create([*observations, *markers])
        # The snapshot's columns are the statistics' fields, one for one.
        snapshots = ProductSnapshot.objects.bulk_create(
            ProductSnapshot(
                product_id=product_id,
                taken_at=at,
                **asdict(offer_statistics((o.price, o.items_in_stock) for o in offers)),
                **changes[product_id],
            )
            for product_id, (offers, at) in answers.items()
        )
        # In this transaction: a roll-up can neither miss these rows nor count them twice.
        rollups_add(snapshots=snapshots, observations=[*observations, *markers])
        # So is the rules' state: a crash can neither lose a firing nor repeat one.
        alerts_evaluate(snapshots=snapshots)
        ProductTracking.objects.filter(pk__in=product_ids).update(
            last_synced_at=_by_product(arrived, DateTimeField()),
            last_sync_error="",
            last_sync_error_at=None,
            sync_failures=0,
            **_RELEASED,
        )
    return written


def _changes_since_last_sync(
    answers: Mapping[uuid.UUID, tuple[Sequence[OfferData], datetime]], known: Mapping
) -> dict[uuid.UUID, dict]:
    """Each product's ProductSnapshot change fields: its cheapest offer, and the counts of
    offers that appeared, vanished, sold out and came back, and of offers whose price rose or
    dropped, since its last successful sync (None at its first, which has nothing to compare
    to; a returning offer compares to its last price). `known` is _offers_touched's, read
    before the store changes it."""
    compared = set(
        ProductTracking.objects.filter(
            pk__in=list(answers), last_synced_at__isnull=False
        ).values_list("pk", flat=True)
    )
    before: dict[uuid.UUID, dict[uuid.UUID, int]] = {product_id: {} for product_id in answers}
    for (product_id, offer_id), row in known.items():
        if row.is_current:
            before[product_id][offer_id] = row.items_in_stock
    changes = {}
    for product_id, (offers, _) in answers.items():
        cheapest = min(offers, key=lambda o: (o.price, o.id.int), default=None)
        change = {"cheapest_offer_id": cheapest.id if cheapest else None}
        if product_id in compared:
            was = before[product_id]
            now = {data.id: data.items_in_stock for data in offers}
            change |= {
                "offers_appeared": sum(1 for offer_id in now if offer_id not in was),
                "offers_vanished": sum(1 for offer_id in was if offer_id not in now),
                "offers_sold_out": sum(
                    1 for offer_id, stock in was.items() if stock and not now.get(offer_id)
                ),
                "offers_restocked": sum(
                    1
                    for offer_id, stock in now.items()
                    if stock and not was.get(offer_id) and (product_id, offer_id) in known
                ),
            }
            last = [
                (known[(product_id, data.id)].price, data.price)
                for data in offers
                if (product_id, data.id) in known
            ]
            change |= {
                "price_rises": sum(1 for old, new in last if new > old),
                "price_drops": sum(1 for old, new in last if new < old),
            }
        changes[product_id] = change
    return changes


def _offers_touched(answers: Mapping[uuid.UUID, tuple[Sequence[OfferData], datetime]]) -> dict:
    """(product id, offer id) → Offer, for the rows these answers can touch: the current ones
    and any returning ids (usually none: one more query only when an answer has ids that are not
    current)."""
    product_ids = list(answers)
    known = {
        (row.product_id, row.offer_id): row
        for row in Offer.objects.filter(product_id__in=product_ids, is_current=True)
    }
    unknown = {
        data.id
        for product_id, (offers, _) in answers.items()
        for data in offers
        if (product_id, data.id) not in known
    }
    for chunk in batched(sorted(unknown), IDS_PER_QUERY):
        for row in Offer.objects.filter(product_id__in=product_ids, offer_id__in=chunk):
            known[(row.product_id, row.offer_id)] = row
    return known


# --- Runs ----------------------------------------------------------------------------------------


def sync_run_lease_seconds() -> float:
    """How long a run holds the run lease without a sign of life from its batches: then it is
    stalled (whatever ran it is gone) and the next run may start."""
    return SYNC_LEASE_SECONDS


def sync_run_start() -> SyncRun | None:
    """Open a run, to be filled by sync_run_enqueue. None when another run still holds the run
    lease (runs never overlap)."""
    seconds = sync_run_lease_seconds()
    holder = lease_claim(name=SYNC_RUN_LEASE, seconds=seconds)
    if holder is None:
        return None
    started_at = database_now()
    return SyncRun.objects.create(
        started_at=started_at,
        lease_holder=holder,
        # At least the lease's own expiry (claimed just before): stalled means it has run out.
        lease_expires_at=started_at + timedelta(seconds=seconds),
        is_planned=False,
    )


def sync_run_enqueue(
    *,
    run: SyncRun,
    enqueue: Callable[[list[uuid.UUID]], None],
    product_ids: Iterable[uuid.UUID] | None = None,
) -> int:
    """Hand the run's products (the active registered ones, or those of `product_ids`) to
    `enqueue` in batches of OFFERS_SYNC_BATCH_SIZE, reading them a page at a time; then the run
    knows its size and finishes once every product has an outcome. Returns that size."""
    size = settings.OFFERS_SYNC_BATCH_SIZE
    tracked = ProductTracking.objects.active().registered().order_by("pk")
    if product_ids is not None:
        tracked = tracked.filter(pk__in=list(product_ids))
    total, last = 0, None
    while True:
        page = tracked if last is None else tracked.filter(pk__gt=last)
        batch = list(page.values_list("pk", flat=True)[:size])
        if batch:
            enqueue(batch)
            total, last = total + len(batch), batch[-1]
        if len(batch) < size:
            break
    with transaction.atomic():
        planned = SyncRun.objects.select_for_update().get(pk=run.pk)
        planned.products_total, planned.is_planned = total, True
        planned.save(update_fields=["products_total", "is_planned"])
    if planned.products_done >= total:
        _sync_run_finish(run.pk)
    return total


_COUNTERS = {
    SyncResult.SYNCED: "products_synced",
    SyncResult.FAILED: "products_failed",
    # This run got no offers for it.
    SyncResult.NEEDS_REGISTRATION: "products_failed",
    SyncResult.SKIPPED: "products_skipped",
}


# A locked SQLite database or a dropped connection must not lose an outcome: the run would never
# finish, and its lease would hold off every run until it expired.
@retry(
    retry=retry_if_exception_type(OperationalError),
    stop=stop_after_attempt(5),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
def sync_run_record(*, run_id: int, outcomes: Mapping[uuid.UUID, SyncOutcome]) -> None:
    """Count a batch's outcomes into its run; the last batch finishes the run, the others show
    it is alive (its lease is renewed)."""
    counts = Counter(_COUNTERS[outcome.result] for outcome in outcomes.values())
    errors = {
        str(product_id): outcome.error
        for product_id, outcome in outcomes.items()
        if _COUNTERS[outcome.result] == "products_failed"
    }
    with transaction.atomic():
        # Row lock on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers anyway.
        run = SyncRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            return
        for counter, count in counts.items():
            setattr(run, counter, getattr(run, counter) + count)
        fields = list(counts)
        if errors and len(run.errors) < RUN_ERRORS_KEPT:
            room = RUN_ERRORS_KEPT - len(run.errors)
            run.errors = {**run.errors, **dict(islice(errors.items(), room))}
            fields.append("errors")
        run.save(update_fields=fields)
    if run.is_planned and run.products_done >= run.products_total:
        _sync_run_finish(run_id)
    else:
        _sync_run_renew(run_id)


def _sync_run_renew(run_id: int) -> None:
    """The run is alive: its lease (and what its record says of it) runs for another
    SYNC_LEASE_SECONDS, unless another run has taken the lease since."""
    holder = SyncRun.objects.filter(pk=run_id, finished_at__isnull=True).values("lease_holder")[:1]
    if Lease.objects.filter(name=SYNC_RUN_LEASE, holder=holder).update(
        expires_at=Now() + timedelta(seconds=sync_run_lease_seconds())
    ):
        # Never before the lease's own expiry, set just before: stalled means it ran out.
        SyncRun.objects.filter(pk=run_id).update(
            lease_expires_at=Now() + timedelta(seconds=sync_run_lease_seconds())
        )


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
