"""The alerts' pages: a product's rules (create, edit, enable, delete; HTMX and plain POST), the
back-test, the history, the feed and "Mark read", the header's badge, the settings; isolation
between users and bounded queries.

Firings are made the real way: a rule through pricing's service, then syncs stored as the sync
stores them (store_offers: pricing.services.offers_store), whose evaluation fires the rule."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.alert_forms import KIND_GROUPS
from dashboard.tests.conftest import HTMX
from pricing.selectors import AlertKind, alert_firings, alert_rules, alert_settings_of
from pricing.services import alert_rule_create, alert_settings_update
from products.services import product_suspend

pytestmark = pytest.mark.django_db

BELOW_100 = {"kind": "price_below", "figure": "cheapest", "threshold": 100}


def squeezed(html: str) -> str:
    """The markup with each run of white space made one space."""
    return re.sub(r"\s+", " ", html)


def htmx_to(target: str) -> dict:
    return {**HTMX, "HX-Target": target}


def new_url(product) -> str:
    return reverse("dashboard:alert-rule-new", args=[product.pk])


def section_url(product) -> str:
    return reverse("dashboard:product-alerts", args=[product.pk])


def form_data(**fields) -> dict:
    """What the rule form posts for "cheapest offer below 100", with `fields` changed."""
    return {
        "kind": "price_below",
        "figure": "cheapest",
        "price_threshold": "100",
        "move_figure": "cheapest",
        "direction": "down",
        "change_unit": "percent",
        "window": "24h",
        "lookback_days": "30",
        "debounce": "1",
        "cooldown_minutes": "0",
        "is_enabled": "on",
        **fields,
    }


@pytest.fixture
def fire(store_offers):
    """fire(product, times=1, start=...): syncs that take the product's cheapest price above 100
    and back below it, `times` times, a minute apart: each drop fires a "below 100" rule."""

    def syncs(product, times=1, *, start=None):
        at = start or timezone.now() - timedelta(minutes=2 * times + 1)
        for _ in range(times):
            store_offers(product, [(150, 2)], at=at)
            store_offers(product, [(90, 2)], at=at + timedelta(minutes=1))
            at += timedelta(minutes=2)

    return syncs


@pytest.fixture
def product(make_product):
    """The user's product, synced once two hours ago at 150 (no rule fires on it)."""
    return make_product("Kettle", [(150, 2)], synced_ago=timedelta(hours=2))


@pytest.fixture
def fired(user, product, fire):
    """A "below 100" rule of the user's product that fired twice."""
    rule = alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
    fire(product, times=2)
    return rule


# --- The product's alert section ---------------------------------------------------------------


def test_every_kind_is_offered_once_in_the_groups():
    offered = [kind for _, kinds in KIND_GROUPS for kind in kinds]
    assert sorted(offered) == sorted(AlertKind) and len(offered) == len(set(offered))


def test_the_product_page_loads_its_alert_section(user_client, product):
    page = user_client.get(reverse("dashboard:product", args=[product.pk])).text
    assert f'hx-get="{section_url(product)}" hx-trigger="load"' in page
    assert 'id="alert-dialog"' in page
    # Without JavaScript the same section is a page of its own.
    assert f'<a href="{section_url(product)}">' in page


def test_the_section_lists_rules_with_their_state_and_history(user_client, user, product, fired):
    alert_rule_create(
        owner=user,
        product_id=product.pk,
        spec={"kind": "stock_below", "threshold": 5, "debounce": 3, "cooldown_minutes": 90},
    )
    response = user_client.get(section_url(product), headers=htmx_to("product-alerts"))
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<section id="product-alerts"')
    assert "<html" not in html
    assert "Cheapest offer below 100 CZK" in html
    assert "Waiting to re-arm" in html  # it fired at the last sync, which still holds
    assert "Total stock below 5" in html and "after 3 syncs in a row, at most every 90 min" in html
    assert "Armed" in html
    # The history, newest first, in the user's time zone.
    assert html.count("is 90 CZK, below 100 CZK") == 2
    assert ">Sent<" in html
    assert "HX-Target" in response["Vary"] and "HX-Request" in response["Vary"]


def test_history_times_are_in_the_users_time_zone(user_client, user, product, fired):
    user.time_zone = "Asia/Tokyo"
    user.save()
    firing = alert_firings(owner=user, product_id=product.pk)[0]
    local = timezone.localtime(firing.fired_at, user.zoneinfo)
    html = user_client.get(section_url(product), headers=htmx_to("product-alerts")).text
    assert local.strftime("%-d %b %Y, %H:%M") in html
    assert "Times in Asia/Tokyo" in html


def test_history_shows_more_on_request(user_client, user, product, fire):
    alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
    fire(product, times=12)
    html = user_client.get(section_url(product), headers=htmx_to("product-alerts")).text
    assert html.count("below 100 CZK.") == 10
    assert "?history=20" in html
    more = user_client.get(f"{section_url(product)}?history=20", headers=htmx_to("alert-history"))
    assert more.text.lstrip().startswith('<section id="alert-history"')
    assert more.text.count("below 100 CZK.") == 12
    assert "Show more" not in more.text


def test_the_section_alone_is_a_page_without_javascript(user_client, product, fired):
    page = user_client.get(section_url(product))
    assert page.status_code == 200 and "<html" in page.text
    assert "Cheapest offer below 100 CZK" in page.text


# --- Create, edit, enable/disable, delete ------------------------------------------------------


def test_create_with_htmx_closes_the_dialog_and_refreshes_the_section(user_client, user, product):
    form = user_client.get(new_url(product), headers=HTMX)
    assert form.status_code == 200
    html = form.text
    assert html.lstrip().startswith('<div id="rule-form"') and "<html" not in html
    assert 'id="dialog-title"' in html and "<legend>Price threshold</legend>" in html
    assert '<optgroup label="Stock">' in html and 'aria-live="polite"' in html

    response = user_client.post(new_url(product), form_data(price_threshold="95"), headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "alerts-changed, dialog-close"
    assert response["HX-Reswap"] == "none"
    assert "Alert “Cheapest offer below 95 CZK” created." in response.text
    (rule,) = alert_rules(owner=user, product_id=product.pk)
    assert rule.spec["threshold"] == 95 and rule.spec["is_enabled"] is True


def test_create_works_without_javascript(user_client, user, product):
    page = user_client.get(new_url(product))
    assert page.status_code == 200 and "<html" in page.text
    response = user_client.post(new_url(product), form_data(kind="out_of_stock"))
    assert response.status_code == 302
    assert response["Location"] == section_url(product)
    (rule,) = alert_rules(owner=user, product_id=product.pk)
    assert rule.spec["kind"] == "out_of_stock"
    assert (
        "Alert “Product goes out of stock” created." in user_client.get(response["Location"]).text
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"price_threshold": ""}, "price_threshold", "Enter the price."),
        ({"price_threshold": "0"}, "price_threshold", "Enter a number from 1 to"),
        ({"price_threshold": "ten"}, "price_threshold", "Enter a whole number."),
        (
            {"figure": "cheapest_in_stock", "min_stock": ""},
            "min_stock",
            "Enter the items an offer must have in stock.",
        ),
        (
            {"kind": "price_move", "change_size": ""},
            "change_size",
            "Enter either a percentage or an amount.",
        ),
        (
            {"kind": "price_move", "change_size": "2.5", "change_unit": "amount"},
            "change_size",
            "Enter a whole number.",
        ),
        ({"kind": "stock_below"}, "stock_threshold", "Enter the number of items."),
        ({"debounce": "61"}, "debounce", "Enter a number from 1 to 60."),
        ({"kind": "nonsense"}, "kind", "Select a valid choice."),
    ],
)
def test_validation_errors_are_shown_in_place(user_client, user, product, fields, field, message):
    response = user_client.post(new_url(product), form_data(**fields), headers=HTMX)
    assert response.status_code == 422
    html = response.text
    assert html.lstrip().startswith('<div id="rule-form"')
    error = re.search(rf'<small class="error" id="id_{field}_error">([^<]*)</small>', html)
    assert error and message in error.group(1), html
    assert 'aria-invalid="true"' in html
    assert alert_rules(owner=user, product_id=product.pk) == []


def test_what_the_kind_does_not_take_is_ignored(user_client, user, product):
    """Without JavaScript every field is sent: only the kind's count."""
    data = form_data(
        kind="stock_below",
        stock_threshold="3",
        price_threshold="ten",
        change_size="oops",
        debounce="2",
    )
    response = user_client.post(new_url(product), data, headers=HTMX)
    assert response.status_code == 200, response.text
    (rule,) = alert_rules(owner=user, product_id=product.pk)
    assert (rule.spec["threshold"], rule.spec["debounce"], rule.spec["figure"]) == (3, 2, "")
    # An event kind takes no debounce: the hidden field's value is not sent on.
    user_client.post(new_url(product), form_data(kind="offer_appeared", debounce="5"))
    assert alert_rules(owner=user, product_id=product.pk)[1].spec["debounce"] == 1


def test_a_price_move_by_amount(user_client, user, product):
    data = form_data(
        kind="price_move",
        move_figure="mean",
        direction="either",
        change_size="20",
        change_unit="amount",
        window="7d",
    )
    assert user_client.post(new_url(product), data, headers=HTMX).status_code == 200
    (rule,) = alert_rules(owner=user, product_id=product.pk)
    assert rule.description == "Mean price moves by 20 CZK within 7 days"
    edit = user_client.get(reverse("dashboard:alert-rule-edit", args=[rule.id]), headers=HTMX)
    assert re.search(r'<option value="amount" selected>', edit.text)
    assert re.search(r'name="change_size" value="20"', edit.text)


def test_the_rule_limit_is_a_form_error(user_client, user, product):
    for threshold in range(1, 21):
        alert_rule_create(
            owner=user, product_id=product.pk, spec={**BELOW_100, "threshold": threshold}
        )
    response = user_client.post(new_url(product), form_data(), headers=HTMX)
    assert response.status_code == 422
    assert "at most 20 rules" in response.text and 'class="form-errors"' in response.text


def test_edit_shows_the_rule_and_its_back_test_and_saves(user_client, user, product, fired):
    url = reverse("dashboard:alert-rule-edit", args=[fired.id])
    form = squeezed(user_client.get(url, headers=HTMX).text)
    assert 'name="price_threshold" value="100"' in form
    assert "would have fired <strong>2 times</strong>" in form
    response = user_client.post(url, form_data(price_threshold="80"), headers=HTMX)
    assert response["HX-Trigger"] == "alerts-changed, dialog-close"
    assert alert_rules(owner=user, product_id=product.pk)[0].spec["threshold"] == 80
    # And as a plain page.
    assert user_client.post(url, form_data(price_threshold="70")).status_code == 302
    assert alert_rules(owner=user, product_id=product.pk)[0].spec["threshold"] == 70


def test_enable_and_disable(user_client, user, product, fired):
    url = reverse("dashboard:alert-rule-toggle", args=[fired.id])
    response = user_client.post(url, headers=HTMX)
    assert response.status_code == 200 and response["HX-Trigger"] == "alerts-changed"
    (rule,) = alert_rules(owner=user, product_id=product.pk)
    assert rule.spec["is_enabled"] is False and rule.firings == 2
    html = user_client.get(section_url(product), headers=htmx_to("product-alerts")).text
    assert ">Off<" in html and ">Enable<" in html
    assert user_client.post(url).status_code == 302
    assert alert_rules(owner=user, product_id=product.pk)[0].spec["is_enabled"] is True
    assert user_client.get(url).status_code == 405


def test_delete_asks_then_deletes_and_keeps_the_history(user_client, user, product, fired):
    url = reverse("dashboard:alert-rule-delete", args=[fired.id])
    confirm = user_client.get(url, headers=HTMX).text
    assert confirm.lstrip().startswith('<div id="rule-delete"') and "Delete this alert?" in confirm
    assert user_client.get(url).status_code == 200  # the plain page
    response = user_client.post(url, headers=HTMX)
    assert response["HX-Trigger"] == "alerts-changed, dialog-close"
    assert alert_rules(owner=user, product_id=product.pk) == []
    assert len(alert_firings(owner=user, product_id=product.pk)) == 2


def test_a_suspended_products_alerts_cannot_change(user_client, user, product, fired):
    product_suspend(product=product, reason="Under review")
    assert user_client.get(new_url(product), headers=HTMX).status_code == 409
    assert user_client.post(new_url(product), form_data()).status_code == 302
    toggle = reverse("dashboard:alert-rule-toggle", args=[fired.id])
    assert user_client.post(toggle, headers=HTMX).status_code == 409
    html = user_client.get(section_url(product), headers=htmx_to("product-alerts")).text
    assert "New alert" not in html and ">Disable<" not in html
    assert len(alert_rules(owner=user, product_id=product.pk)) == 1


# --- The back-test -----------------------------------------------------------------------------


def test_the_back_test_follows_the_form(user_client, product, fire, user):
    fire(product, times=3)  # no rule yet: the back-test reads the history
    url = reverse("dashboard:alert-backtest", args=[product.pk])
    html = squeezed(user_client.post(url, form_data(), headers=HTMX).text)
    assert html.lstrip().startswith('<div id="backtest-result"')
    assert "Over the last 30 days (7 syncs) this rule would have fired <strong>3 times" in html
    assert html.count('class="backtest-bar') >= 30 and 'role="img"' in html
    # Quiet hours from the hour before this one to the next: every firing would be held.
    hour = timezone.now().astimezone(user.zoneinfo).hour
    quiet_hours = {"quiet_start": (hour - 1) % 24, "quiet_end": (hour + 1) % 24}
    alert_settings_update(user=user, changes=quiet_hours)
    quiet = squeezed(user_client.post(url, form_data(price_threshold="95"), headers=HTMX).text)
    assert "fired <strong>3 times</strong> (3 in quiet hours)." in quiet
    never = user_client.post(url, form_data(price_threshold="50"), headers=HTMX).text
    assert "<strong>not have fired</strong>" in never and "<svg" not in never


def test_the_back_test_says_what_is_missing_or_unavailable(user_client, product):
    url = reverse("dashboard:alert-backtest", args=[product.pk])
    missing = user_client.post(url, form_data(price_threshold=""), headers=HTMX).text
    assert "Complete the rule to see its back-test: Enter the price." in missing
    unavailable = user_client.post(
        url, form_data(figure="cheapest_in_stock", min_stock="2"), headers=HTMX
    ).text
    assert "No back-test: The history keeps the cheapest offer" in unavailable


def test_without_javascript_the_back_test_is_a_button(user_client, user, product, fire):
    fire(product, times=1)
    response = user_client.post(new_url(product), form_data(preview="1"))
    assert response.status_code == 200 and "<html" in response.text
    assert "would have fired <strong>once</strong>" in squeezed(response.text)
    assert alert_rules(owner=user, product_id=product.pk) == []  # not saved


# --- Isolation and sign-in ---------------------------------------------------------------------


@pytest.fixture
def theirs(make_product, other_user, fire):
    """Another user's product, rule and firing."""
    product = make_product("Theirs", [(150, 1)], owner=other_user, synced_ago=timedelta(hours=1))
    rule = alert_rule_create(owner=other_user, product_id=product.pk, spec=BELOW_100)
    fire(product)
    return product, rule, alert_firings(owner=other_user)[0]


def test_another_users_product_rule_and_firing_are_404(user_client, other_user, theirs):
    product, rule, firing = theirs
    for url in (section_url(product), new_url(product)):
        assert user_client.get(url).status_code == 404
        assert user_client.get(url, headers=HTMX).status_code == 404
    assert user_client.post(new_url(product), form_data()).status_code == 404
    backtest = reverse("dashboard:alert-backtest", args=[product.pk])
    assert user_client.post(backtest, form_data(), headers=HTMX).status_code == 404
    for name in ("dashboard:alert-rule-edit", "dashboard:alert-rule-delete"):
        assert user_client.get(reverse(name, args=[rule.id]), headers=HTMX).status_code == 404
    for name in (
        "dashboard:alert-rule-edit",
        "dashboard:alert-rule-delete",
        "dashboard:alert-rule-toggle",
    ):
        assert user_client.post(reverse(name, args=[rule.id]), form_data()).status_code == 404
    read = reverse("dashboard:alert-read", args=[firing.id])
    assert user_client.post(read, headers=HTMX).status_code == 404
    # Nothing of theirs changed, and none of it shows in the user's feed.
    (kept,) = alert_rules(owner=other_user, product_id=product.pk)
    assert kept.spec == {**kept.spec, "threshold": 100, "is_enabled": True}
    assert alert_firings(owner=other_user)[0].read_at is None
    assert "Theirs" not in user_client.get(reverse("dashboard:alerts")).text
    user_client.post(reverse("dashboard:alerts-read"))
    assert alert_firings(owner=other_user)[0].read_at is None


@pytest.mark.parametrize(
    "url",
    [
        reverse("dashboard:alerts"),
        reverse("dashboard:alerts-badge"),
        reverse("dashboard:alert-settings"),
    ],
)
def test_anonymous_users_are_sent_to_login_and_htmx_gets_a_redirect(client, url):
    assert client.get(url)["Location"].startswith(reverse("account_login"))
    assert client.get(url, headers=HTMX)["HX-Redirect"].startswith(reverse("account_login"))


def test_anonymous_users_cannot_reach_a_products_alerts(client, product):
    for url in (section_url(product), new_url(product)):
        assert client.get(url, headers=HTMX)["HX-Redirect"].startswith(reverse("account_login"))


# --- The feed ----------------------------------------------------------------------------------


@pytest.fixture
def two_products_fired(user, product, fired, make_product, fire):
    """The user's "Kettle" fired twice, then their "Grinder" once (the newest)."""
    other = make_product("Grinder", [(150, 1)], synced_ago=timedelta(hours=1))
    alert_rule_create(owner=user, product_id=other.pk, spec=BELOW_100)
    fire(other, start=timezone.now() - timedelta(seconds=30))


def test_the_feed_lists_every_products_firings_with_unread_highlighted(
    user_client, two_products_fired
):
    response = user_client.get(reverse("dashboard:alerts"))
    assert response.status_code == 200
    html = response.text
    assert html.count('class="alert-item alert-unread"') == 3
    assert html.count('class="alert-product">Kettle<') == 2
    assert html.count('class="alert-product">Grinder<') == 1
    assert 'aria-current="page"' in html and "Mark all read (3)" in html


def test_the_feed_is_newest_first(user_client, two_products_fired):
    html = user_client.get(reverse("dashboard:alerts")).text
    assert html.index(">Grinder<") < html.index(">Kettle<")


def test_mark_one_read_with_htmx_refreshes_the_feed_and_the_badge(user_client, user, fired):
    newest = alert_firings(owner=user)[0]
    url = reverse("dashboard:alert-read", args=[newest.id])
    response = user_client.post(url, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "alerts-changed"
    assert response.text.lstrip().startswith('<section id="alert-feed"')
    assert response.text.count('class="alert-item alert-unread"') == 1
    assert alert_firings(owner=user)[0].read_at is not None
    # Marked already: there is no unread firing of that id any more.
    assert user_client.post(url, headers=HTMX).status_code == 404


def test_the_unread_filter_and_mark_all_read_without_javascript(user_client, user, fired):
    first = alert_firings(owner=user)[1]
    user_client.post(reverse("dashboard:alert-read", args=[first.id]), {"unread": "1"})
    unread = user_client.get(reverse("dashboard:alerts"), {"unread": "1"}).text
    assert unread.count('class="alert-item alert-unread"') == 1
    assert unread.count('<li id="firing-') == 1
    response = user_client.post(reverse("dashboard:alerts-read"), {"unread": "1"})
    assert response.status_code == 302 and response["Location"].endswith("?unread=1")
    assert "Nothing unread" in user_client.get(response["Location"]).text
    assert user_client.get(reverse("dashboard:alerts-read")).status_code == 405


def test_firings_past_the_daily_cap_stay_out_of_the_feed(user_client, user, product, fire):
    alert_settings_update(user=user, changes={"daily_cap": 1})
    alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
    # Yesterday at noon (UTC, the user's zone): both in one day, whenever the test runs.
    noon = (timezone.now() - timedelta(days=1)).replace(hour=12, minute=0, second=0)
    fire(product, times=2, start=noon)
    feed = user_client.get(reverse("dashboard:alerts")).text
    assert feed.count('<li id="firing-') == 1
    history = user_client.get(section_url(product), headers=htmx_to("product-alerts")).text
    assert "Not sent (daily cap reached)" in history and ">Sent<" in history


def test_the_feed_pages(user_client, user, product, fire):
    alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
    fire(product, times=27)
    first = user_client.get(reverse("dashboard:alerts")).text
    assert first.count('<li id="firing-') == 25 and "Page 1 of 2" in first
    second = user_client.get(reverse("dashboard:alerts"), {"page": "2"}, headers=HTMX)
    assert second.text.lstrip().startswith('<section id="alert-feed"')
    assert second.text.count('<li id="firing-') == 2
    assert "HX-Request" in second["Vary"]


# --- The header's badge ------------------------------------------------------------------------


def test_the_badge_counts_unread_alerts_and_hides_at_zero(user_client, user, product, fire):
    badge_url = reverse("dashboard:alerts-badge")
    # Pages load it after they show (no query of theirs), then it polls.
    page = user_client.get(reverse("dashboard:overview")).text
    assert f'hx-get="{badge_url}" hx-trigger="load, every 30s, alerts-changed from:body"' in page
    empty = user_client.get(badge_url, headers=HTMX).text
    assert "unread alert" not in empty and 'hx-trigger="every 30s' in empty
    alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
    fire(product)
    badge = user_client.get(f"{badge_url}?count=0", headers=HTMX)
    assert badge.text.lstrip().startswith('<span id="alerts-badge"')
    assert '<span class="count-badge" aria-hidden="true">1</span>' in badge.text
    assert '<span class="visually-hidden"> (1 unread alert)</span>' in badge.text
    assert f"{badge_url}?count=1" in badge.text
    assert badge["HX-Trigger"] == "alerts-arrived"  # more than the page showed
    assert "HX-Trigger" not in user_client.get(f"{badge_url}?count=1", headers=HTMX)
    assert "HX-Trigger" not in user_client.get(badge_url, headers=HTMX)  # the first load
    # The feed knows the count already: its header shows it at once.
    feed = user_client.get(reverse("dashboard:alerts")).text
    assert f'hx-get="{badge_url}?count=1" hx-trigger="every 30s' in feed
    assert "(1 unread alert)" in feed


def test_the_badge_refresh_follows_the_dashboard_setting(user_client, settings):
    settings.DASHBOARD_REFRESH_SECONDS = 7
    assert "every 7s, alerts-changed" in user_client.get(reverse("dashboard:alerts")).text


# --- Settings ----------------------------------------------------------------------------------


def test_settings_show_and_save(user_client, user):
    url = reverse("dashboard:alert-settings")
    page = user_client.get(url)
    assert page.status_code == 200 and "<legend>Quiet hours</legend>" in page.text
    assert "UTC" in page.text and "made when you set a webhook URL" in page.text
    data = {
        "email_mode": "digest",
        "digest_hour": "7",
        "quiet_start": "22",
        "quiet_end": "6",
        "daily_cap": "10",
        "webhook_url": "https://hooks.example.com/prices",
    }
    response = user_client.post(url, data)
    assert response.status_code == 302
    prefs = alert_settings_of(user=user)
    assert (prefs.email_mode, prefs.digest_hour, prefs.quiet_start, prefs.quiet_end) == (
        "digest",
        7,
        22,
        6,
    )
    assert prefs.daily_cap == 10 and len(prefs.webhook_secret) == 64
    page = user_client.get(url).text
    assert "Alert settings saved." in page and prefs.webhook_secret in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quiet_start": "22", "quiet_end": ""}, "quiet_end", "Give both ends"),
        ({"daily_cap": "0"}, "daily_cap", "Enter a number from 1 to 1000."),
        ({"webhook_url": "ftp://example.com"}, "webhook_url", "Enter an http:// or https:// URL."),
    ],
)
def test_settings_errors_are_shown_in_place(user_client, user, changes, field, message):
    data = {"email_mode": "immediate", "digest_hour": "8", "daily_cap": "50", **changes}
    response = user_client.post(reverse("dashboard:alert-settings"), data)
    assert response.status_code == 422
    error = re.search(rf'<small class="error" id="id_{field}_error">([^<]*)</small>', response.text)
    assert error and message in error.group(1)
    assert alert_settings_of(user=user).pk is None or alert_settings_of(user=user).daily_cap == 50


def test_rotating_the_secret_with_htmx_and_without(user_client, user):
    alert_settings_update(user=user, changes={"webhook_url": "https://hooks.example.com/p"})
    old = alert_settings_of(user=user).webhook_secret
    url = reverse("dashboard:alert-secret-rotate")
    response = user_client.post(url, headers=HTMX)
    new = alert_settings_of(user=user).webhook_secret
    assert new != old
    assert response.text.lstrip().startswith('<section id="webhook-secret"')
    assert new in response.text and "the old one no longer signs" in response.text
    assert user_client.post(url).status_code == 302
    assert alert_settings_of(user=user).webhook_secret != new
    assert user_client.get(url).status_code == 405


# --- Queries -----------------------------------------------------------------------------------


def test_the_feed_reads_a_fixed_number_of_queries(
    user_client, user, make_product, fire, django_assert_max_num_queries
):
    for name in ("A", "B", "C"):
        product = make_product(name, [(150, 1)], synced_ago=timedelta(hours=2))
        alert_rule_create(owner=user, product_id=product.pk, spec=BELOW_100)
        fire(product, times=10)
    # Session, user, the unread count (badge and "Mark all read"), the firings' count, a page.
    with django_assert_max_num_queries(5):
        response = user_client.get(reverse("dashboard:alerts"))
    assert response.text.count('<li id="firing-') == 25


def test_the_alert_section_reads_a_fixed_number_of_queries(
    user_client, user, product, fire, django_assert_max_num_queries
):
    for threshold in range(90, 110):
        alert_rule_create(
            owner=user, product_id=product.pk, spec={**BELOW_100, "threshold": threshold}
        )
    fire(product, times=5)
    # Session, user, product, rules, firings.
    with django_assert_max_num_queries(5):
        response = user_client.get(section_url(product), headers=htmx_to("product-alerts"))
    assert response.text.count('id="alert-rule-') >= 20
