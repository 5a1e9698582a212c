"""The staff's health page, and the stale-scheduler banner on staff pages (ours and the admin's)."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard.templatetags.dashboard import duration
from dashboard.tests.conftest import HTMX
from pricing.services import scheduler_heartbeat

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:staff-health")
BANNER = "products are not being synced"
PRAGUE = ZoneInfo("Europe/Prague")  # the staff member's time zone


@pytest.fixture
def staff_user(django_user_model, password):
    return django_user_model.objects.create_user(
        email="staff@example.com", password=password, is_staff=True, time_zone=PRAGUE.key
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def beat():
    """beat(ago): the scheduler's last heartbeat, `ago` before now."""
    return lambda ago: scheduler_heartbeat(now=timezone.now() - ago)


def heartbeat_queries(queries) -> list[str]:
    return [query["sql"] for query in queries if "pricing_heartbeat" in query["sql"]]


# --- Who may see it ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login_and_back(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={URL}"


def test_signed_in_users_who_are_not_staff_get_404(user_client):
    assert user_client.get(URL).status_code == 404


def test_an_expired_session_on_the_htmx_refresh_goes_to_login_as_a_whole(client):
    response = client.get(URL, headers={**HTMX, "HX-Current-URL": f"http://testserver{URL}"})

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("account_login"))


# --- The page ------------------------------------------------------------------------------------


def test_staff_see_every_panel_with_its_empty_state(staff_client, beat):
    beat(timedelta(seconds=30))

    response = staff_client.get(URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<section id="health-panels"' in html and 'hx-trigger="every 10s"' in html
    for heading in (
        "Scheduler",
        "Sync runs",
        "Offers access token",
        "Overdue for a sync",
        "Failing",
        "Registrations pending",
        "Registrations failed",
        "Task queue",
    ):
        assert heading in html
    for empty in (
        "No sync run yet",
        "No overdue products",
        "No failing products",
        "No pending registrations",
        "No failed registrations",
    ):
        assert empty in html
    assert "Alive" in html
    assert 'aria-current="page">Health</a>' in html


def test_products_link_to_their_admin_page_and_to_the_admin_list_filtered_to_them(
    staff_client, make_product, set_tracking
):
    product = make_product("Espresso <b>machine</b>", [(100, 1)], synced_ago=timedelta(hours=1))
    set_tracking(product, sync_failures=4, last_sync_error="503 from the service")

    html = staff_client.get(URL).content.decode()

    change = reverse("admin:products_product_change", args=[product.pk])
    changelist = reverse("admin:products_product_changelist")
    assert f'href="{change}"' in html
    assert f'href="{changelist}?q={product.pk}"' in html
    assert "Espresso &lt;b&gt;machine&lt;/b&gt;" in html
    assert "alice@example.com" in html
    assert "503 from the service" in html
    assert "No overdue products" not in html and "No failing products" not in html


def test_times_are_shown_in_the_staff_members_time_zone_with_how_long_ago(
    staff_client, make_sync_run
):
    started = timezone.now() - timedelta(minutes=5)
    make_sync_run(started_at=started, finished_at=started + timedelta(seconds=42))

    html = staff_client.get(URL).content.decode()

    local = timezone.localtime(started, PRAGUE)
    assert f'datetime="{local.isoformat(timespec="seconds")}"' in html
    assert "5\xa0minutes ago" in html
    assert "42 s" in html  # the run's duration
    assert 'aria-label="0 synced, 0 failed, 0 skipped of 0"' in html


def test_the_htmx_refresh_gets_only_the_panels(staff_client, make_product):
    product = make_product("Kettle", [(100, 1)], synced_ago=timedelta(hours=1))
    full = staff_client.get(URL)
    partial = staff_client.get(URL, headers=HTMX)

    body = partial.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="health-panels"')
    assert "Overdue for a sync" in body
    assert reverse("admin:products_product_change", args=[product.pk]) in body
    assert "HX-Request" in full["Vary"] and "HX-Request" in partial["Vary"]


def test_a_history_restore_gets_the_whole_page(staff_client):
    response = staff_client.get(URL, headers={**HTMX, "HX-History-Restore-Request": "true"})

    assert "<html" in response.content.decode()


def test_the_page_costs_a_bounded_number_of_queries(
    staff_client, make_product, set_tracking, make_sync_run, django_assert_max_num_queries
):
    now = timezone.now()
    for index in range(25):
        failing = make_product(f"P{index}", [(100, 1)], synced_ago=timedelta(hours=1))
        set_tracking(failing, sync_failures=1, last_sync_error="503", last_sync_error_at=now)
        set_tracking(make_product(f"R{index}"), registration_state="failed")
        make_sync_run(started_at=now - index * timedelta(minutes=1))

    # Session, user, and the seven of the health figures; the banner reuses their scheduler.
    with django_assert_max_num_queries(9):
        response = staff_client.get(URL)

    assert response.status_code == 200


# --- The stale-scheduler banner ------------------------------------------------------------------


@pytest.mark.parametrize("path", [URL, reverse("dashboard:overview"), reverse("admin:index")])
def test_staff_see_the_banner_when_the_scheduler_is_silent(path, staff_client, beat):
    beat(timedelta(minutes=4))

    html = staff_client.get(path).content.decode()

    assert "The scheduler has not run for 4\xa0minutes (since" in html
    assert BANNER in html and "--no-periodic" in html
    assert f'href="{URL}"' in html


@pytest.mark.parametrize("path", [URL, reverse("dashboard:overview"), reverse("admin:index")])
def test_staff_see_the_banner_when_the_scheduler_never_ran(path, staff_client):
    html = staff_client.get(path).content.decode()

    assert "The scheduler has never run" in html and BANNER in html


@pytest.mark.parametrize("path", [URL, reverse("dashboard:overview"), reverse("admin:index")])
def test_no_banner_while_the_scheduler_beats(path, staff_client, beat):
    beat(timedelta(seconds=50))

    html = staff_client.get(path).content.decode()

    assert BANNER not in html


def test_the_banner_shows_the_time_of_the_last_beat_in_the_staff_members_zone(staff_client, beat):
    beat(timedelta(minutes=10))
    last = timezone.localtime(timezone.now() - timedelta(minutes=10), PRAGUE)

    html = staff_client.get(reverse("dashboard:overview")).content.decode()

    assert f"(since {last:%H:%M})" in html


def test_the_admin_links_to_the_health_page(staff_client, beat):
    beat(timedelta(seconds=10))

    html = staff_client.get(reverse("admin:index")).content.decode()

    assert f'<a href="{URL}">Health</a>' in html
    assert reverse("admin:password_change") in html  # the stock links stay


def test_users_who_are_not_staff_get_no_banner_and_no_query_for_it(user_client):
    with CaptureQueriesContext(connection) as queries:
        html = user_client.get(reverse("dashboard:overview")).content.decode()

    assert BANNER not in html and ">Health</a>" not in html
    assert heartbeat_queries(queries) == []


def test_staff_pages_that_do_not_show_the_banner_do_not_read_the_heartbeat(staff_client):
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(reverse("dashboard:overview"), headers=HTMX)

    assert response.status_code == 200
    assert heartbeat_queries(queries) == []


def test_a_staff_page_reads_the_heartbeat_once(staff_client):
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse("dashboard:overview"))

    assert len(heartbeat_queries(queries)) == 1


# --- Formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0.4, "0.4 s"),
        (42, "42 s"),
        (180, "3 min"),
        (185, "3 min 5 s"),
        (7800, "2 h 10 min"),
    ],
)
def test_durations_read_as_people_say_them(seconds, shown):
    assert duration(None if seconds is None else timedelta(seconds=seconds)) == shown
