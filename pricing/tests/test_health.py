"""The staff's health figures (pricing.health, through pricing.selectors): runs, the scheduler's
heartbeat, overdue and failing products, registrations, the Offers token and the task queue."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from pricing.health import PANEL_ROWS
from pricing.models import Heartbeat, OffersAccessToken
from pricing.offers_client import OffersLockedOut
from pricing.selectors import (
    SCHEDULER_STALE_AFTER,
    RunState,
    scheduler_status,
    staff_health,
)
from pricing.services import scheduler_heartbeat
from pricing.tasks import schedule_sync_runs, sync_run_task
from pricing.tests.helpers import stored_token
from products.services import product_suspend

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def one_minute_interval(settings):
    """Syncs every minute: a product is overdue after three minutes without one."""
    settings.OFFERS_SYNC_INTERVAL = 60


def names(panel) -> list[str]:
    return [product.name for product in panel.products]


# --- Overdue and failing products ----------------------------------------------------------------


def test_overdue_products_are_those_without_a_successful_sync_for_longer_than_stale_after(
    make_product, set_tracking
):
    now = timezone.now()
    make_product("Fresh", [(100, 1)], synced_ago=2 * M)
    make_product("Old", [(100, 1)], synced_ago=10 * M)
    make_product("Older", [(100, 1)], synced_ago=H)
    never = make_product("Never synced")
    set_tracking(never, registration_state="registered", registered_at=now - 2 * H)
    just_registered = make_product("Just registered")
    set_tracking(just_registered, registration_state="registered", registered_at=now - M)
    make_product("Still registering")

    overdue = staff_health(now=now).overdue

    assert overdue.count == 3
    assert names(overdue) == ["Never synced", "Older", "Old"]  # the longest overdue first
    never_row, older_row, _ = overdue.products
    assert never_row.product_id == never.pk
    assert never_row.owner_email == "alice@example.com"
    assert never_row.last_synced_at is None
    assert older_row.last_synced_at == pytest.approx(now - H, abs=timedelta(seconds=5))


def test_overdue_follows_the_sync_interval(make_product, settings):
    make_product("Ten minutes ago", [(100, 1)], synced_ago=10 * M)
    settings.OFFERS_SYNC_INTERVAL = 300  # overdue after 15 minutes

    health = staff_health(now=timezone.now())

    assert health.overdue.count == 0
    assert health.overdue_after == timedelta(minutes=15)


def test_failing_products_come_with_their_last_error_most_consecutive_failures_first(
    make_product, set_tracking
):
    now = timezone.now()
    once = make_product("Once", [(100, 1)])
    set_tracking(once, sync_failures=1, last_sync_error="timed out", last_sync_error_at=now - M)
    often = make_product("Often", [(100, 1)])
    set_tracking(often, sync_failures=7, last_sync_error="503", last_sync_error_at=now)
    make_product("Healthy", [(100, 1)])

    failing = staff_health(now=now).failing

    assert failing.count == 2
    assert names(failing) == ["Often", "Once"]
    assert (failing.products[0].sync_failures, failing.products[0].last_sync_error) == (7, "503")
    assert failing.products[0].last_sync_error_at == now


def test_suspended_products_and_deactivated_owners_products_are_neither_overdue_nor_failing(
    make_product, set_tracking, other_user
):
    now = timezone.now()
    failing = {"sync_failures": 3, "last_sync_error": "503", "last_sync_error_at": now}
    visible = make_product("Visible", [(100, 1)], synced_ago=H)
    suspended = make_product("Suspended", [(100, 1)], synced_ago=H)
    deactivated = make_product("Deactivated owner's", [(100, 1)], synced_ago=H, owner=other_user)
    for product in (visible, suspended, deactivated):
        set_tracking(product, **failing)
    product_suspend(product=suspended, reason="Counterfeit")
    other_user.is_active = False
    other_user.save()

    health = staff_health(now=now)

    assert names(health.overdue) == ["Visible"] and health.overdue.count == 1
    assert names(health.failing) == ["Visible"] and health.failing.count == 1


def test_registrations_pending_and_failed_with_their_error_attempts_and_next_attempt(
    make_product, set_tracking
):
    now = timezone.now()
    new = make_product("New")
    retrying = make_product("Retrying")
    set_tracking(
        retrying,
        registration_attempts=3,
        registration_error="503 Service Unavailable",
        registration_next_attempt_at=now + M,
    )
    refused = make_product("Refused")
    set_tracking(
        refused,
        registration_state="failed",
        registration_attempts=1,
        registration_error="422: name too long",
    )
    suspended = make_product("Suspended")
    set_tracking(suspended, registration_state="failed")
    product_suspend(product=suspended, reason="Spam")
    make_product("Registered", [(100, 1)])

    health = staff_health(now=now)

    pending = health.registrations_pending
    assert pending.count == 2
    assert names(pending) == ["Retrying", "New"]  # the most attempts first
    assert pending.products[0].registration_attempts == 3
    assert pending.products[0].registration_error == "503 Service Unavailable"
    assert pending.products[0].registration_next_attempt_at == now + M
    assert pending.products[1].product_id == new.pk
    failed = health.registrations_failed
    assert (failed.count, names(failed)) == (1, ["Refused"])
    assert failed.products[0].registration_error == "422: name too long"


def test_a_panel_lists_the_first_rows_and_counts_them_all(make_product):
    for index in range(PANEL_ROWS + 5):
        make_product(f"P{index:02}", [(100, 1)], synced_ago=H + index * M)

    overdue = staff_health(now=timezone.now()).overdue

    assert overdue.count == PANEL_ROWS + 5
    assert len(overdue.products) == PANEL_ROWS
    assert overdue.products[0].name == f"P{PANEL_ROWS + 4:02}"  # synced longest ago


def test_nothing_to_report_is_empty_panels(db):
    health = staff_health(now=timezone.now())

    for panel in (
        health.overdue,
        health.failing,
        health.registrations_pending,
        health.registrations_failed,
    ):
        assert (panel.count, panel.products) == (0, [])
    assert health.runs == [] and health.last_run is None


def _catalogue_in_every_state(make_product, set_tracking, make_sync_run, size: int) -> None:
    now = timezone.now()
    for index in range(size):
        make_product(f"Overdue {index}", [(100, 1)], synced_ago=H)
        failing = make_product(f"Failing {index}", [(100, 1)])
        set_tracking(failing, sync_failures=2, last_sync_error="503", last_sync_error_at=now)
        make_product(f"Pending {index}")
        set_tracking(make_product(f"Failed {index}"), registration_state="failed")
        make_sync_run(started_at=now - index * M, finished_at=now - index * M + M / 2)


@pytest.mark.parametrize("size", [1, 30])
def test_the_health_figures_cost_seven_queries_whatever_the_catalogue(
    size, make_product, set_tracking, make_sync_run, django_assert_num_queries
):
    _catalogue_in_every_state(make_product, set_tracking, make_sync_run, size)
    scheduler_heartbeat(now=timezone.now())

    # Heartbeat, runs, four panels, token; the queue is asked outside the database.
    with django_assert_num_queries(7):
        health = staff_health(now=timezone.now())

    assert health.failing.count == size and len(health.runs) == min(size, 10)


# --- Sync runs -----------------------------------------------------------------------------------


def test_the_ten_latest_runs_newest_first_with_their_state_and_duration(make_sync_run):
    now = timezone.now()
    for index in range(12):
        started = now - (index + 2) * H
        make_sync_run(started_at=started, finished_at=started + timedelta(seconds=40 + index))
    stalled = now - H
    make_sync_run(started_at=stalled, lease_expires_at=stalled + 10 * M, products_total=4)
    make_sync_run(started_at=now - M, products_total=3, products_synced=1, products_failed=1)

    runs = staff_health(now=now).runs

    assert len(runs) == 10
    assert [run.started_at for run in runs] == sorted(
        (run.started_at for run in runs), reverse=True
    )
    running, stalled_run, finished = runs[:3]
    assert (running.state, running.duration) == (RunState.RUNNING, None)
    assert (running.products_synced, running.products_failed) == (1, 1)
    assert (stalled_run.state, stalled_run.duration) == (RunState.STALLED, None)
    assert (finished.state, finished.duration) == (RunState.FINISHED, timedelta(seconds=40))


# --- The scheduler's heartbeat -------------------------------------------------------------------


def test_the_scheduler_is_alive_up_to_three_minutes_after_its_last_beat(db):
    beat = timezone.now()
    scheduler_heartbeat(now=beat)

    alive = scheduler_status(now=beat + timedelta(minutes=2, seconds=59))
    silent = scheduler_status(now=beat + timedelta(minutes=3, seconds=1))

    assert timedelta(minutes=3) == SCHEDULER_STALE_AFTER
    assert (alive.alive, alive.last_beat_at) == (True, beat)
    assert (silent.alive, silent.last_beat_at) == (False, beat)
    assert silent.silent_for == timedelta(minutes=3, seconds=1)


def test_a_scheduler_that_never_beat_is_not_alive(db):
    status = scheduler_status(now=timezone.now())

    assert (status.alive, status.last_beat_at, status.silent_for) == (False, None, None)


def test_a_beat_keeps_one_row_with_the_latest_time(db):
    first = timezone.now() - 2 * M
    scheduler_heartbeat(now=first)
    scheduler_heartbeat(now=first + M)

    assert list(Heartbeat.objects.values_list("name", "beat_at")) == [
        (Heartbeat.SCHEDULER, first + M)
    ]


def test_the_periodic_task_beats_every_time_it_runs(db):
    before = timezone.now()

    schedule_sync_runs.call_local()

    assert scheduler_status(now=timezone.now()).alive
    assert Heartbeat.objects.get(name=Heartbeat.SCHEDULER).beat_at >= before


def test_the_heartbeat_is_written_before_anything_that_can_fail(db, monkeypatch):
    # Mocked: the only way to make the run's start fail at will.
    def broken(**kwargs):
        raise RuntimeError("database trouble")

    monkeypatch.setattr("pricing.services.sync_run_due", broken)

    with pytest.raises(RuntimeError):
        schedule_sync_runs.call_local()

    assert Heartbeat.objects.filter(name=Heartbeat.SCHEDULER).exists()


def test_a_heartbeat_needs_an_aware_now_to_be_read(db):
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        scheduler_status(now=timezone.now().replace(tzinfo=None))


# --- The Offers access token ---------------------------------------------------------------------


def test_a_lockout_is_stored_without_a_token_and_cleared_by_the_next_token(
    offers_simulator, make_client
):
    import requests

    # Someone else (a manual call with our refresh token) holds the one valid token.
    assert (
        requests.post(
            f"{offers_simulator.base_url}/auth",
            headers={"Bearer": offers_simulator.refresh_token},
            timeout=5,
        ).status_code
        == 201
    )
    client = make_client()
    with pytest.raises(OffersLockedOut) as raised:
        client.get_offers(product_id=uuid.uuid4())

    row = stored_token()
    assert (row.token, row.obtained_at, row.expires_at) == ("", None, None)
    assert row.locked_out_until == raised.value.until
    token = staff_health(now=timezone.now()).token
    assert token.is_locked_out and token.locked_out_until == raised.value.until
    assert not token.is_valid and token.valid_until is None

    offers_simulator.expire_tokens()  # the other token has run out: a new one is issued
    client.register_product(product_id=uuid.uuid4(), name="Kettle", description="")

    row = stored_token()
    assert row.token and row.locked_out_until is None
    token = staff_health(now=timezone.now()).token
    assert token.is_valid and not token.is_locked_out and token.locked_out_until is None
    assert token.obtained_at == row.obtained_at and token.valid_until == row.expires_at


def test_a_lockout_leaves_a_stored_token_as_it_is(offers_simulator, make_client, product_id):
    # Our clock says the stored token expired; the service still honours it and refuses another.
    OffersAccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = stored_token()

    with pytest.raises(OffersLockedOut):
        make_client().get_offers(product_id=product_id)

    after = stored_token()
    assert (after.token, after.obtained_at, after.expires_at) == (
        before.token,
        before.obtained_at,
        before.expires_at,
    )
    assert after.locked_out_until is not None


def test_the_token_state_never_carries_the_token_and_says_whether_a_refresh_token_is_set(
    offers_simulator, make_client, product_id, settings
):
    token = staff_health(now=timezone.now()).token
    assert token.is_valid and token.refresh_token_configured
    assert stored_token().token not in repr(token)

    settings.OFFERS_REFRESH_TOKEN = ""
    assert not staff_health(now=timezone.now()).token.refresh_token_configured


def test_an_expired_token_is_not_valid(offers_simulator, make_client, product_id):
    OffersAccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    token = staff_health(now=timezone.now()).token

    assert not token.is_valid and token.valid_until is not None and not token.is_locked_out


# --- The task queue ------------------------------------------------------------------------------


def test_the_queue_length_counts_waiting_and_scheduled_tasks(db):
    assert not HUEY.immediate
    sync_run_task.schedule(delay=3600)
    HUEY.execute(HUEY.dequeue())  # as a consumer does: not due yet, so it goes to the schedule
    sync_run_task()
    sync_run_task()

    queue = staff_health(now=timezone.now()).queue

    assert (queue.pending, queue.scheduled, queue.error) == (2, 1, "")


def test_a_queue_that_cannot_be_asked_is_unknown_with_the_reason(db, monkeypatch):
    # Mocked: stopping the test's Redis (or locking the SQLite queue) would hit other tests.
    def unreachable():
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(HUEY, "pending_count", unreachable)

    queue = staff_health(now=timezone.now()).queue

    assert (queue.pending, queue.scheduled) == (None, None)
    assert (
        queue.error
        == "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused."
    )
