"""What the interfaces read and ask of pricing about a catalogue: orderings by any column, the
sync state of a product, the summary, sync runs and their stalled rule, and sync requests."""

from datetime import timedelta

import pytest
from django.core.paginator import Paginator
from django.db.models.functions import Now
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from pricing.models import Lease, SyncRun
from pricing.selectors import (
    CATALOGUE_CHANGE_PERIOD,
    ProductOrder,
    RunState,
    SyncState,
    catalogue_summary,
    latest_sync_run,
    price_change_many,
    product_stats_many,
    products_ordered,
    stale_after,
    sync_status,
    with_sync_state,
)
from pricing.services import (
    SYNC_RUN_LEASE,
    SyncOutcome,
    SyncRequestOutcome,
    SyncResult,
    product_sync_request,
    sync_run_enqueue,
    sync_run_lease_seconds,
    sync_run_record,
    sync_run_start,
)
from pricing.sync import SYNC_LEASE_SECONDS
from products.models import Product
from products.services import product_suspend

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


# --- Orderings -----------------------------------------------------------------------------------


@pytest.fixture
def catalogue(make_product, store_offers):
    """31 products: changes over the last 24 h up, down, flat and tied (the same change under
    different names), and some without a change (never synced, no earlier price, no offers)."""
    now = timezone.now()
    ends = [90, 150, 100, 120, 80, 120, 101, 133, 99, 101, 120, 60, 250, 100, 111, 95, 105]
    for index, end in enumerate(ends):
        product = make_product(f"P{index:02}", [(100, 1 + index)], synced_ago=25 * H)
        (offer,) = product.offers.all()
        store_offers(product, [(offer.offer_id, 3 * end, 1)], at=now - 2 * H)  # in between
        store_offers(product, [(offer.offer_id, end, 2)], at=now - H)
    for index in range(8):
        make_product(f"Q{index:02}")  # never synced: no change
    for index in range(3):  # no earlier price: the first inside is the start (0.00)
        make_product(f"R{index:02}", [(100 + index, 1)], synced_ago=H)
    for index in range(3):
        make_product(f"S{index:02}", [(100, 1)], synced_ago=25 * H)
        store_offers(Product.objects.get(name=f"S{index:02}"), [], at=now - H)  # sold out
    return Product.objects.all(), now


def python_order(products, key, *, descending):
    """Sorting all rows in Python: defined values by key (either way), undefined last, ties by
    name then id, as the selector promises."""
    rows = sorted(products, key=lambda p: (p.name, p.pk))
    defined = [p for p in rows if key(p) is not None]
    defined.sort(key=key, reverse=descending)  # stable: ties keep name order
    return defined + [p for p in rows if key(p) is None]


@pytest.mark.parametrize("descending", [False, True])
def test_ordering_by_change_across_pages_equals_sorting_all_rows_in_python(catalogue, descending):
    products, now = catalogue
    changes = price_change_many(
        product_ids=[p.pk for p in products], start=now - CATALOGUE_CHANGE_PERIOD, end=now
    )
    assert len({c for c in changes.values() if c is not None}) > 5  # the test means something
    assert sum(c is None for c in changes.values()) == 11
    ordered = products_ordered(products, by=ProductOrder.CHANGE, descending=descending, now=now)
    pages = Paginator(ordered, 7)
    paged = [p for number in pages.page_range for p in pages.page(number).object_list]
    expected = python_order(products, lambda p: changes[p.pk], descending=descending)
    assert [p.name for p in paged] == [p.name for p in expected]


@pytest.mark.parametrize(
    ("order", "figure"),
    [
        (ProductOrder.MEAN_PRICE, "mean_price"),
        (ProductOrder.WEIGHTED_MEAN_PRICE, "weighted_mean_price"),
        (ProductOrder.OFFERS, "offer_count"),
        (ProductOrder.STOCK, "total_stock"),
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_ordering_by_a_current_figure_equals_sorting_in_python(
    catalogue, order, figure, descending
):
    products, now = catalogue
    stats = product_stats_many(product_ids=[p.pk for p in products])
    ordered = products_ordered(products, by=order, descending=descending, now=now)
    key = lambda p: getattr(stats[p.pk], figure)  # noqa: E731
    assert list(ordered) == python_order(products, key, descending=descending)


def test_ordering_by_name_and_creation(catalogue):
    products, now = catalogue
    by_name = products_ordered(products, by=ProductOrder.NAME, now=now)
    assert [p.name for p in by_name] == sorted(p.name for p in products)
    newest = products_ordered(products, by=ProductOrder.CREATED, descending=True, now=now)
    assert list(newest) == sorted(products, key=lambda p: p.created_at, reverse=True)


def test_a_page_of_an_ordering_is_one_query_with_the_sync_state(
    catalogue, django_assert_num_queries
):
    products, now = catalogue
    ordered = products_ordered(products, by=ProductOrder.CHANGE, now=now)
    with django_assert_num_queries(1):
        page = list(ordered[:25])
        states = [sync_status(p, now=now) for p in page]
    assert states == [sync_status(Product.objects.get(pk=p.pk), now=now) for p in page]


# --- A product's sync state ----------------------------------------------------------------------


def test_the_sync_state_of_a_product_through_its_life(
    make_product, set_tracking, settings, django_assert_num_queries
):
    settings.OFFERS_SYNC_INTERVAL = 60
    now = timezone.now()
    product = make_product("Kettle")

    def state(**tracking):
        if tracking:
            set_tracking(product, **tracking)
        loaded = with_sync_state(Product.objects.filter(pk=product.pk)).get()
        with django_assert_num_queries(0):
            return sync_status(loaded, now=now)

    new = state()
    assert (new.state, new.first_sync_pending, new.can_sync) == (SyncState.REGISTERING, True, False)
    assert state(registration_state="registered").state is SyncState.AWAITING_FIRST_SYNC
    failing = state(
        last_sync_error="The Offers service at http://10.0.0.5/api/v1 answered 503 (OFFERS_…)",
        last_sync_error_at=now,
        sync_failures=2,
    )
    assert (failing.state, failing.first_sync_pending) == (SyncState.FAILING, False)
    # The owner reads what it means for them; the error, with our address and settings, is
    # for staff (the health page, the admin).
    assert failing.message.startswith("The last 2 syncs could not get this product's offers")
    assert "10.0.0.5" not in failing.message
    synced = state(last_synced_at=now, last_sync_error="", sync_failures=0)
    assert (synced.state, synced.can_sync, synced.last_attempt_at) == (SyncState.SYNCED, True, now)
    # Stale exactly past stale_after(): three sync intervals.
    assert stale_after() == timedelta(minutes=3)
    assert state(last_synced_at=now - stale_after()).state is SyncState.SYNCED
    assert state(last_synced_at=now - stale_after() - timedelta(seconds=1)).state is SyncState.STALE
    failed = state(registration_state="failed", registration_error="http://10.0.0.5 said 422")
    assert failed.state is SyncState.REGISTRATION_FAILED
    assert "refused to register" in failed.message and "10.0.0.5" not in failed.message
    product_suspend(product=product, reason="Counterfeit")
    suspended = state()
    assert (suspended.state, suspended.message, suspended.can_sync) == (
        SyncState.SUSPENDED,
        "Counterfeit",
        False,
    )


# --- The catalogue summary and sync runs ---------------------------------------------------------


def test_the_summary_counts_the_owners_products_offers_and_problems(
    make_product, set_tracking, other_user, user, make_sync_run, django_assert_num_queries
):
    make_product("A", [(100, 1), (200, 1)])
    failing = make_product("B", [(1, 1)])
    set_tracking(failing, sync_failures=1, last_sync_error="503")
    failed = make_product("C")
    set_tracking(failed, registration_state="failed")
    make_product("Theirs", [(1, 1)], owner=other_user)
    theirs_failing = make_product("Theirs failing", [(1, 1)], owner=other_user)
    make_sync_run(
        started_at=timezone.now() - timedelta(seconds=30),
        finished_at=timezone.now(),
        products_total=5,
        products_failed=2,
    )
    for product in (failing, theirs_failing):
        set_tracking(
            product, sync_failures=1, last_sync_error="503", last_sync_error_at=timezone.now()
        )
    with django_assert_num_queries(3):
        summary = catalogue_summary(owner=user, now=timezone.now())
    assert (summary.products, summary.current_offers, summary.needing_attention) == (3, 3, 2)
    # The run as this owner sees it: their two registered products, one of them failed; not
    # the run's site-wide 2 of 5.
    run = summary.last_run
    assert (run.state, run.products_total, run.products_failed) == (RunState.FINISHED, 2, 1)


def test_a_run_is_stalled_exactly_when_its_lease_runs_out_and_its_batches_renew_it(
    make_product,
):
    kettle, mug = make_product("Kettle", [(1, 1)]), make_product("Mug", [(1, 1)])
    run = sync_run_start()
    assert sync_run_enqueue(run=run, enqueue=lambda batch: None) == 2  # unfinished until recorded
    run.refresh_from_db()
    lease = Lease.objects.get(name=SYNC_RUN_LEASE)
    assert sync_run_lease_seconds() == SYNC_LEASE_SECONDS
    assert timedelta(0) <= run.lease_expires_at - lease.expires_at < timedelta(seconds=1)

    def state_at(moment):
        return latest_sync_run(now=moment).state

    assert state_at(run.lease_expires_at - timedelta(microseconds=1)) is RunState.RUNNING
    assert state_at(run.lease_expires_at) is RunState.STALLED

    # A batch that records its outcomes shows the run alive: its lease runs for another length.
    soon = Now() + timedelta(seconds=1)
    Lease.objects.filter(name=SYNC_RUN_LEASE).update(expires_at=soon)
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=soon)
    sync_run_record(run_id=run.pk, outcomes={kettle.pk: SyncOutcome(SyncResult.SYNCED)})
    run.refresh_from_db()
    lease.refresh_from_db()
    assert run.finished_at is None
    assert lease.expires_at > timezone.now() + timedelta(seconds=SYNC_LEASE_SECONDS - 5)
    assert timedelta(0) <= run.lease_expires_at - lease.expires_at < timedelta(seconds=1)

    # The lease agrees: nobody can start a run until it has run out, as if time had passed. Expiry
    # is the database's clock (SQLite's has millisecond steps), so the lease ends at its Now().
    assert sync_run_start() is None
    Lease.objects.filter(name=SYNC_RUN_LEASE).update(expires_at=Now())
    assert sync_run_start() is not None
    # The stalled run's last batch still finishes it, without touching the new run's lease.
    sync_run_record(run_id=run.pk, outcomes={mug.pk: SyncOutcome(SyncResult.SYNCED)})
    run.refresh_from_db()
    assert run.finished_at is not None
    assert sync_run_start() is None


# --- Sync requests ("Sync now") ------------------------------------------------------------------


def test_a_sync_request_has_four_outcomes(make_product, settings):
    settings.SYNC_NOW_COOLDOWN = 30
    pending = make_product("Pending")
    assert product_sync_request(product=pending).outcome is SyncRequestOutcome.NOT_REGISTERED
    suspended = product_suspend(product=make_product("Suspended", [(1, 1)]), reason="x")
    assert product_sync_request(product=suspended).outcome is SyncRequestOutcome.SUSPENDED
    assert HUEY.pending_count() == 0

    product = make_product("Kettle", [(1, 1)])
    before = timezone.now()
    queued = product_sync_request(product=product)
    assert queued.outcome is SyncRequestOutcome.QUEUED and queued.requested_at >= before
    assert HUEY.pending_count() == 1  # the sync task, for a worker
    again = product_sync_request(product=product)
    assert (again.outcome, again.requested_at, again.cooldown) == (
        SyncRequestOutcome.COOLING_DOWN,
        None,
        30,
    )
    assert HUEY.pending_count() == 1
    # The limit is per product.
    other = make_product("Other", [(1, 1)])
    assert product_sync_request(product=other).outcome is SyncRequestOutcome.QUEUED
