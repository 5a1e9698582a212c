"""The product page: statistics, offers table, chart partials, Sync now, isolation."""

import html as html_entities
import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.periods import Period
from dashboard.tests.conftest import HTMX
from dashboard.tests.figures import compact_values, expand
from dashboard.views import LIVE_REDRAW_AFTER
from pricing.selectors import current_offers, price_trend
from products.models import Product
from products.services import product_update

pytestmark = pytest.mark.django_db


def url(product, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("dashboard:product", args=[product.pk]) + (f"?{query}" if query else "")


def compact_figure_of(html: str) -> dict:
    """The chart's figure as the page sends it (compact: dashboard/charts.py)."""
    match = re.search(
        r'<script id="price-figure" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def figure_of(html: str) -> dict:
    """The chart's figure as plotly draws it (expanded as static/js/charts.js does)."""
    return expand(compact_figure_of(html))


@pytest.fixture
def product_with_history(make_product, store_offers):
    """Two offers, then a price change an hour later."""
    product = make_product(
        "Espresso machine", [(10000, 2), (12000, 1)], synced_ago=timedelta(hours=2)
    )
    first, second = current_offers(product=product)  # cheapest first
    store_offers(
        product,
        [(first.offer_id, 11000, 2), (second.offer_id, 12000, 1)],
        at=timezone.now() - timedelta(hours=1),
    )
    return product


def test_the_full_page_shows_statistics_offers_and_the_chart(user_client, product_with_history):
    html = user_client.get(url(product_with_history)).content.decode()
    assert "<html" in html
    for text in ["11,500.00 CZK", "11,333.33 CZK", "11,000 CZK", "12,000 CZK"]:
        assert text in html, text  # mean, weighted mean, min, max
    assert "+10.00 %" in html  # the 10,000 offer went to 11,000 since its previous observation
    assert "vendor/plotly.min.js" in html and "js/charts.js" in html
    assert figure_of(html)["data"]


def test_regions_render_alone_by_hx_target(user_client, product_with_history):
    offers = user_client.get(
        url(product_with_history), headers={**HTMX, "HX-Target": "offers-table"}
    )
    body = offers.content.decode()
    assert body.lstrip().startswith('<section id="offers-table"') and "<html" not in body
    assert "price-figure" not in body
    live = user_client.get(
        url(product_with_history, period="7d"), headers={**HTMX, "HX-Target": "product-live"}
    )
    body = live.content.decode()
    assert body.lstrip().startswith('<div id="product-live"') and "<html" not in body
    assert 'id="offers-table"' not in body
    assert "Change over 7 days" in body
    assert "HX-Target" in live["Vary"]


def test_an_unknown_target_or_period_gets_the_full_page_not_an_error(
    user_client, product_with_history
):
    html = user_client.get(
        url(product_with_history, period="forever"), headers={**HTMX, "HX-Target": "evil"}
    ).content.decode()
    assert "<html" in html and "Change over 24 h" in html


def test_chart_data_equals_the_selectors_figures(user_client, user, product_with_history, settings):
    settings.OFFERS_SYNC_INTERVAL = 3600  # the syncs an hour apart are not an outage then
    html = user_client.get(url(product_with_history)).content.decode()
    figure = figure_of(html)
    now = timezone.now()
    trend = price_trend(
        product=product_with_history,
        start=now - timedelta(days=1),
        end=now + timedelta(seconds=1),
        tz=ZoneInfo(user.time_zone),
        include_offers=False,
    )
    mean = next(trace for trace in figure["data"] if trace["name"] == "Mean")
    means = [point.mean for point in trend.points]
    assert mean["y"] == pytest.approx(means, abs=0.005)  # in cents, as the hover shows them

    settings.OFFERS_SYNC_INTERVAL = 60  # now they are: the line breaks between them
    figure = figure_of(user_client.get(url(product_with_history)).content.decode())
    mean = next(trace for trace in figure["data"] if trace["name"] == "Mean")
    assert mean["y"] == pytest.approx([means[0], None, *means[1:]], abs=0.005)


def test_the_offers_toggle_adds_one_line_per_offer(user_client, product_with_history):
    without = figure_of(user_client.get(url(product_with_history)).content.decode())
    with_offers = figure_of(user_client.get(url(product_with_history, offers=1)).content.decode())
    assert len(with_offers["data"]) == len(without["data"]) + 2


def test_markup_in_the_name_stays_text_in_page_and_figure(user_client, make_product):
    product = make_product("<img src=x onerror=alert(1)>", [(100, 1)])
    html = user_client.get(url(product)).content.decode()
    assert "<img src=x onerror=alert(1)>" not in html
    figure = json.dumps(figure_of(html))
    assert "<img" not in figure


def test_empty_states_before_the_first_data(user_client, make_product):
    html = user_client.get(url(make_product("New"))).content.decode()
    assert "No price history yet" in html
    assert "Waiting for the first offers" in html
    assert "price-figure" not in html


def test_a_new_product_is_watched_until_its_first_sync(user_client, make_product, store_offers):
    product = make_product("New")
    html = user_client.get(url(product)).content.decode()
    # The table polls each second, as after "Sync now", from the product's creation.
    since = re.search(r'hx-get="[^"]*\?syncing=([^"&]+)"\s+hx-trigger="every 1s"', html)
    assert since, "the offers table does not watch for the first sync"
    poll = url(product) + f"?syncing={since.group(1)}"
    table = {**HTMX, "HX-Target": "offers-table"}
    assert "HX-Trigger" not in user_client.get(poll, headers=table)

    store_offers(product, [(100, 1)])
    done = user_client.get(poll, headers=table)
    assert done["HX-Trigger"] == "product-synced"  # the statistics and the chart refresh too
    assert "every 1s" not in done.content.decode()


def test_an_old_product_without_a_sync_is_not_polled_each_second(user_client, make_product):
    product = make_product("Stuck")
    Product.objects.filter(pk=product.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    html = user_client.get(url(product)).content.decode()
    assert "every 1s" not in html and "syncing=" not in html


def test_queries_bounded_with_30_days_of_minute_history(
    user_client, make_product, minute_history, django_assert_max_num_queries
):
    product = make_product("Busy", [(100, 1)])
    minutes = 30 * 24 * 60
    minute_history(product, start=timezone.now() - timedelta(minutes=minutes), count=minutes - 1)
    with django_assert_max_num_queries(20):
        response = user_client.get(url(product, period="30d", offers=1))
    assert compact_values(compact_figure_of(response.content.decode())) <= 5000
    # The last 24 h of that minute history: 5-minute points, and the page says so.
    html = user_client.get(url(product)).content.decode()
    assert re.search(r"2(88|89) points, each averaging 5 minutes · times in UTC", html)
    assert "1 point, one per sync" in user_client.get(url(make_product("New", [(1, 1)]))).text


def test_all_renders_four_years_of_history_in_weeks(user_client, make_product, minute_history):
    product = make_product("Old", [(100, 1)])
    start = timezone.now() - timedelta(days=4 * 365 + 1)
    minute_history(product, start=start, count=4 * 365 * 4, every=timedelta(hours=6))
    response = user_client.get(url(product, period="all", offers=1))
    assert response.status_code == 200
    assert re.search(r"\d+ points, each averaging 1 week", response.text)
    figure = figure_of(response.text)
    assert sum(v is not None for trace in figure["data"] for v in trace["y"]) <= 5000


def test_sync_now_enqueues_a_sync_and_shows_it_running(
    user_client, product_with_history, offers_simulator, huey_immediate
):
    response = user_client.post(
        reverse("dashboard:product-sync", args=[product_with_history.pk]), headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Syncing…" in body and "every 1s" in body
    assert f'hx-get="{url(product_with_history)}?syncing=' in body  # polls the page, not /sync/
    # The task ran (immediate mode): the simulator had never heard of this product, so it
    # answered 404; the sync handed it to a registration, which synced it once registered.
    assert offers_simulator.stats()["offers"] == {"404": 1, "200": 1}
    # The table's next poll sees the sync finished, and tells the page to refresh the rest.
    since = re.search(r"syncing=([^\"&]+)", body).group(1)
    done = user_client.get(
        url(product_with_history) + f"?syncing={since}",
        headers={**HTMX, "HX-Target": "offers-table"},
    )
    assert "Syncing…" not in done.content.decode()
    assert done["HX-Trigger"] == "product-synced"


def test_sync_now_is_rate_limited_per_product(user_client, product_with_history, make_product):
    sync = reverse("dashboard:product-sync", args=[product_with_history.pk])
    assert user_client.post(sync, headers=HTMX).status_code == 200
    response = user_client.post(sync, headers=HTMX)  # moments later
    assert response.status_code == 429
    assert "moments ago" in response.content.decode()
    other = make_product("Other", [(1, 1)])
    response = user_client.post(reverse("dashboard:product-sync", args=[other.pk]), headers=HTMX)
    assert response.status_code == 200


def test_sync_now_without_javascript_redirects_back(user_client, product_with_history):
    response = user_client.post(reverse("dashboard:product-sync", args=[product_with_history.pk]))
    assert response.status_code == 302
    assert response["Location"] == url(product_with_history)


@pytest.mark.parametrize(
    "syncing", ["nonsense", "2026-13-45T00:00:00+00:00", "2026-01-01T00:00:00"]
)
def test_a_bad_syncing_parameter_is_ignored(user_client, product_with_history, syncing):
    response = user_client.get(
        url(product_with_history) + f"?syncing={syncing}",
        headers={**HTMX, "HX-Target": "offers-table"},
    )
    assert response.status_code == 200


def test_another_users_product_page_partials_and_sync_are_404(
    user_client, make_product, other_user
):
    theirs = make_product("Theirs", [(1, 1)], owner=other_user)
    for headers in [
        {},
        {**HTMX, "HX-Target": "offers-table"},
        {**HTMX, "HX-Target": "product-live"},
    ]:
        assert user_client.get(url(theirs), headers=headers).status_code == 404
    # Nor does a poll learn whether it changed: 404 before any version is compared.
    their_page = user_client.get(url(theirs, shown="0"), headers=LIVE)
    assert their_page.status_code == 404
    response = user_client.post(reverse("dashboard:product-sync", args=[theirs.pk]), headers=HTMX)
    assert response.status_code == 404


def test_times_are_shown_in_the_users_zone(user_client, user, make_product):
    user.time_zone = "Asia/Tokyo"
    user.save()
    product = make_product("Zoned", [(1, 1)])
    (offer,) = current_offers(product=product)
    seen = offer.first_seen_at.astimezone(ZoneInfo("Asia/Tokyo"))
    html = user_client.get(url(product)).content.decode()
    assert seen.strftime("%H:%M") in html
    assert "times in Asia/Tokyo" in html


# --- The live region's poll ---------------------------------------------------------------------

LIVE = {**HTMX, "HX-Target": "product-live"}


@pytest.fixture
def steady_clock(monkeypatch):
    """No LIVE_REDRAW_AFTER step of the clock passes during the test (one may pass between two
    requests, and the region is then drawn again, rightly)."""
    monkeypatch.setattr("dashboard.views.LIVE_REDRAW_AFTER", timedelta(days=36500))


def live_poll(html: str) -> str:
    """The URL the live region polls (its own hx-get)."""
    match = re.search(r'<div id="product-live" hx-get="([^"]+)"', html)
    assert match, "no live region"
    return html_entities.unescape(match.group(1))


def test_an_unchanged_live_region_answers_204_without_reading_the_trend(
    user_client, product_with_history, django_assert_max_num_queries, steady_clock
):
    poll = live_poll(user_client.get(url(product_with_history, period="7d", offers=1)).text)
    assert "period=7d" in poll and "offers=1" in poll and "shown=" in poll
    # Session, user, product, latest snapshot: no trend, no figure, no offers.
    with django_assert_max_num_queries(4):
        response = user_client.get(poll, headers=LIVE)
    assert response.status_code == 204 and response.content == b""
    assert "HX-Target" in response["Vary"]


def test_a_new_snapshot_renders_the_live_region_again(
    user_client, product_with_history, store_offers, steady_clock
):
    poll = live_poll(user_client.get(url(product_with_history)).text)
    store_offers(product_with_history, [(9000, 1)])  # a sync
    response = user_client.get(poll, headers=LIVE)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="product-live"')
    assert "9,000.00 CZK" in response.text and figure_of(response.text)["data"]
    # The new region polls with the new version: unchanged again.
    assert live_poll(response.text) != poll
    assert user_client.get(live_poll(response.text), headers=LIVE).status_code == 204


@pytest.mark.parametrize("change", ["rename", "time zone", "clock", "unknown version"])
def test_the_live_region_renders_again_whenever_it_would_show_something_else(
    user_client, user, product_with_history, monkeypatch, change
):
    poll = live_poll(user_client.get(url(product_with_history)).text)
    match change:
        case "rename":  # the chart's title
            product_update(
                owner=user,
                product_id=product_with_history.pk,
                name="Grinder",
                description="",
                my_price=None,
                map_price=None,
            )
        case "time zone":  # the chart's times
            user.time_zone = "Asia/Tokyo"
            user.save()
        case "clock":  # the period slides: old points leave it, the change moves
            later = timezone.now() + LIVE_REDRAW_AFTER
            monkeypatch.setattr(timezone, "now", lambda: later)
        case "unknown version":
            poll = re.sub(r"shown=[^&]*", "shown=nonsense", poll)
    response = user_client.get(poll, headers=LIVE)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="product-live"')


def test_the_users_navigation_always_renders(user_client, product_with_history):
    html = user_client.get(url(product_with_history)).text
    region = html[html.index('<div id="product-live"') : html.index('id="offers-table"')]
    gets = [html_entities.unescape(u) for u in re.findall(r'hx-get="([^"]+)"', region)]
    poll = live_poll(html)
    links = [get for get in gets if get != poll]
    assert len(links) == len(Period) + 1  # the periods and the offers toggle
    for link in links:  # unchanged data, but the user asked: drawn
        assert "shown=" not in link
        response = user_client.get(link, headers=LIVE)
        assert response.status_code == 200 and "price-figure" in response.text
    # The poll's URL opened as a page (a bookmark, a new tab) is the page.
    page = user_client.get(poll)
    assert page.status_code == 200 and "<html" in page.text


# --- Register again ---------------------------------------------------------------------------


@pytest.fixture
def unregistrable(make_product, set_tracking):
    product = make_product("Kettle")
    set_tracking(
        product,
        registration_state="failed",
        registration_error="422: the name is not allowed",
        registration_attempts=1,
    )
    return product


def test_a_failed_registration_shows_its_reason_and_register_again(user_client, unregistrable):
    page = user_client.get(url(unregistrable)).content.decode()
    assert "Registration failed" in page and "refused to register this product" in page
    assert "422: the name is not allowed" not in page  # the service's words are for staff
    assert reverse("dashboard:product-register", args=[unregistrable.pk]) in page
    assert "Sync now" not in page


def test_register_again_registers_syncs_and_shows_it_running(
    user_client, unregistrable, offers_simulator, huey_immediate
):
    response = user_client.post(
        reverse("dashboard:product-register", args=[unregistrable.pk]), headers=HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "every 1s" in body and "?syncing=" in body
    # Immediate mode: registered, then synced at once.
    assert offers_simulator.stats()["register"] == {"201": 1}
    since = re.search(r"syncing=([^\"&]+)", body).group(1)
    done = user_client.get(
        url(unregistrable) + f"?syncing={since}", headers={**HTMX, "HX-Target": "offers-table"}
    )
    assert "Registration failed" not in done.content.decode()
    assert done["HX-Trigger"] == "product-synced"


def test_a_registration_that_fails_again_stops_the_watch(user_client, unregistrable, set_tracking):
    # Queued (no worker here), and then the worker failed it again.
    response = user_client.post(
        reverse("dashboard:product-register", args=[unregistrable.pk]), headers=HTMX
    )
    assert "Registering…" in response.content.decode()
    since = re.search(r"syncing=([^\"&]+)", response.content.decode()).group(1)
    set_tracking(unregistrable, registration_state="failed", registration_error="422 again")
    done = user_client.get(
        url(unregistrable) + f"?syncing={since}", headers={**HTMX, "HX-Target": "offers-table"}
    )
    assert "every 1s" not in done.content.decode()
    assert "refused to register this product" in done.content.decode()


def test_register_again_is_rate_limited_and_refused_when_registered(
    user_client, unregistrable, make_product
):
    register = reverse("dashboard:product-register", args=[unregistrable.pk])
    assert user_client.post(register, headers=HTMX).status_code == 200
    response = user_client.post(register, headers=HTMX)
    assert response.status_code == 429 and "moments ago" in response.content.decode()
    registered = make_product("Registered", [(1, 1)])
    response = user_client.post(
        reverse("dashboard:product-register", args=[registered.pk]), headers=HTMX
    )
    assert response.status_code == 409 and "registered already" in response.content.decode()


def test_register_again_without_javascript_redirects_back(user_client, unregistrable):
    response = user_client.post(reverse("dashboard:product-register", args=[unregistrable.pk]))
    assert response.status_code == 302 and response["Location"] == url(unregistrable)


def test_register_again_of_another_users_product_is_404(user_client, make_product, other_user):
    theirs = make_product("Theirs", owner=other_user)
    response = user_client.post(reverse("dashboard:product-register", args=[theirs.pk]))
    assert response.status_code == 404


def test_the_offers_table_shows_the_cheapest_offers_when_there_are_very_many(
    user_client, make_product
):
    from dashboard.views import PRODUCT_PAGE_MAX_OFFERS

    product = make_product("Popular", [(1000 + i, 1) for i in range(PRODUCT_PAGE_MAX_OFFERS + 5)])
    html = user_client.get(url(product)).content.decode()

    table = html[html.index('id="offers-table"') :]
    assert table.count('data-label="Price"') == PRODUCT_PAGE_MAX_OFFERS
    assert "1,000" in table and "1,104" not in table  # the cheapest, not the dearest
    assert f"Only the {PRODUCT_PAGE_MAX_OFFERS} cheapest offers are shown" in table
    few = make_product("Rare", [(5, 1)])
    assert "cheapest offers are shown" not in user_client.get(url(few)).content.decode()
