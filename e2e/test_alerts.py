"""Alerts in Chromium: a rule made in the product page's dialog with its back-test following the
form, a price move stored as the sync stores it, the firing arriving in the header's badge (its
poll, no reload), in the product's history and in the feed; marking it read."""

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect


@pytest.fixture
def product(make_product, store_offers):
    """The user's product, with an hour of syncs: the cheapest offer at 1,200 CZK, dropping
    twice to 1,050 (what a "below 1,100" rule's back-test finds)."""
    product = make_product(
        "Espresso machine", [(1200, 3), (1500, 1)], synced_ago=timedelta(hours=1)
    )
    now = timezone.now()
    for minutes, cheapest in ((50, 1050), (40, 1200), (30, 1050), (20, 1200)):
        store_offers(product, [(cheapest, 3), (1500, 1)], at=now - timedelta(minutes=minutes))
    return product


def alerts_section(page, product, live_server):
    """The product page, once its alert section has loaded and htmx has taken it in (until
    then its links would be followed as plain links)."""
    page.goto(f"{live_server.url}/products/{product.pk}/")
    section = page.locator("#product-alerts")
    expect(section.get_by_role("link", name="+ New alert")).to_be_visible()
    expect(section).not_to_have_class(re.compile(r"\bhtmx-added\b"))
    return section


def mark_document(page):
    """A flag that a full page load would wipe out."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page):
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"


def test_a_rule_made_in_the_dialog_fires_into_the_badge_and_the_feed(
    settings,
    live_server,
    signed_in_page,
    product,
    store_offers,
    page_errors,
    outside_requests,
    artifacts_dir,
):
    settings.DASHBOARD_REFRESH_SECONDS = 1  # the badge polls each second
    page = signed_in_page
    header = page.get_by_role("navigation", name="Main")
    expect(header.get_by_role("link", name="Alerts", exact=True)).to_be_visible()

    section = alerts_section(page, product, live_server)
    expect(section.get_by_role("heading", name="No alerts yet")).to_be_visible()
    mark_document(page)

    # The dialog: only the chosen kind's fields show; the back-test follows the input.
    section.get_by_role("link", name="+ New alert").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name=re.compile("New alert"))).to_be_visible()
    expect(dialog.get_by_label("Alert me when")).to_be_focused()
    backtest = dialog.locator("#backtest-result")
    expect(backtest).to_contain_text("Fill in the rule")
    dialog.get_by_label("Alert me when").select_option("stock_below")
    expect(dialog.get_by_label("Items in stock, all offers together")).to_be_visible()
    expect(dialog.get_by_label("Price (CZK)")).to_be_hidden()
    dialog.get_by_label("Alert me when").select_option("price_below")
    expect(dialog.get_by_label("Items in stock, all offers together")).to_be_hidden()
    expect(dialog.get_by_label("Items the offer has in stock, at least")).to_be_hidden()
    dialog.get_by_label("Price to watch").first.select_option("cheapest")
    dialog.get_by_label("Price (CZK)").fill("1100")
    expect(backtest).to_contain_text("Over the last 30 days (5 syncs)")
    expect(backtest).to_contain_text("this rule would have fired 2 times")
    expect(backtest.get_by_role("img", name=re.compile("Firings per day"))).to_be_visible()
    # The region that announces it to screen readers stays while its content changes.
    assert dialog.locator(".backtest[aria-live=polite] #backtest-result").count() == 1
    dialog.get_by_label("Price (CZK)").fill("1000")
    expect(backtest).to_contain_text("would not have fired")
    dialog.get_by_label("Price (CZK)").fill("1100")
    expect(backtest).to_contain_text("2 times")
    page.screenshot(path=artifacts_dir / "alert-dialog.png", full_page=True)
    dialog.get_by_role("button", name="Create alert").click()
    expect(dialog).to_be_hidden()
    rule_row = section.locator("tr", has_text="Cheapest offer below 1,100 CZK")
    expect(rule_row).to_be_visible()
    expect(rule_row.get_by_text("Armed", exact=True)).to_be_visible()
    expect(page.get_by_text("Alert “Cheapest offer below 1,100 CZK” created.")).to_be_visible()
    assert_same_document(page)

    # The price falls, as a sync stores it: the badge's poll brings the alert, and the section
    # (told by the badge that alerts arrived) shows it in the history.
    store_offers(product, [(1000, 2), (1500, 1)])
    badge_link = header.get_by_role("link", name="Alerts (1 unread alert)")
    expect(badge_link).to_be_visible(timeout=10_000)
    expect(header.locator(".count-badge")).to_have_text("1")
    history = section.locator("#alert-history")
    expect(history).to_contain_text("The cheapest offer is 1,000 CZK, below 1,100 CZK.")
    expect(rule_row.get_by_text("Waiting to re-arm")).to_be_visible()
    assert_same_document(page)
    section.screenshot(path=artifacts_dir / "alert-section.png")

    # The feed: the alert, unread; marked read, the badge goes.
    badge_link.click()
    expect(page).to_have_url(re.compile(r"/alerts/$"))
    item = page.locator(".alert-item").first
    expect(item).to_have_class(re.compile(r"\balert-unread\b"))
    expect(item).to_contain_text("Espresso machine")
    expect(item).to_contain_text("The cheapest offer is 1,000 CZK, below 1,100 CZK.")
    mark_document(page)
    item.get_by_role("button", name=re.compile("^Mark read")).click()
    expect(page.locator(".alert-unread")).to_have_count(0)
    expect(header.get_by_role("link", name="Alerts", exact=True)).to_be_visible()
    expect(header.locator(".count-badge")).to_have_count(0)
    assert_same_document(page)
    page.screenshot(path=artifacts_dir / "alert-feed.png", full_page=True)

    # On a phone: the section's rules and history become cards; nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    alerts_section(page, product, live_server)
    expect(page.locator("#alert-history")).to_contain_text("1,000 CZK, below 1,100 CZK")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#product-alerts").screenshot(path=artifacts_dir / "alert-section-phone.png")

    assert page_errors == []
    assert outside_requests == []


def test_the_rule_form_works_by_keyboard_and_shows_errors_in_place(
    live_server, signed_in_page, product, page_errors
):
    page = signed_in_page
    section = alerts_section(page, product, live_server)
    new_alert = section.get_by_role("link", name="+ New alert")
    new_alert.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Alert me when")).to_be_focused()
    dialog.get_by_role("button", name="Create alert").press("Enter")
    error = dialog.locator("#id_price_threshold_error")
    expect(error).to_have_text("Enter the price.")
    expect(dialog.get_by_label("Price (CZK)")).to_have_attribute("aria-invalid", "true")
    # Escape closes the native dialog; the page is as it was.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page_errors == []


@pytest.fixture
def moving_simulator(settings):
    """A simulator of our own whose prices move every second (the session's tick is a minute),
    with the app pointed at it."""
    from offers_simulator.testing import run_simulator

    with run_simulator("--tick", "1") as simulator:
        settings.OFFERS_BASE_URL = simulator.base_url
        settings.OFFERS_REFRESH_TOKEN = simulator.refresh_token
        yield simulator


def test_the_simulator_moves_the_price_and_the_alert_arrives(
    settings, live_server, signed_in_page, user, moving_simulator, page_errors, outside_requests
):
    from pricing.selectors import product_stats
    from pricing.services import alert_rule_create, offers_sync, product_register
    from products.services import product_create

    settings.DASHBOARD_REFRESH_SECONDS = 1
    # One simulated product in ten has no offers: take one that has some.
    for attempt in range(10):
        product = product_create(owner=user, name=f"Grinder {attempt}")
        assert product_register(product_id=product.pk).registered
        offers_sync(product_id=product.pk)
        cheapest = product_stats(product=product).min_price
        if cheapest is not None:
            break
    assert cheapest is not None

    # In the dialog: tell me when the cheapest offer falls below what it is now; and (made
    # through the service, as the API would) when it rises above it. The price walks either way.
    page = signed_in_page
    section = alerts_section(page, product, live_server)
    section.get_by_role("link", name="+ New alert").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Alert me when").select_option("price_below")
    dialog.get_by_label("Price to watch").first.select_option("cheapest")
    dialog.get_by_label("Price (CZK)").fill(str(cheapest))
    backtest = dialog.locator("#backtest-result")
    expect(backtest).to_contain_text("Over the last 30 days (1 sync")
    expect(backtest).to_contain_text("would not have fired")
    dialog.get_by_role("button", name="Create alert").click()
    expect(dialog).to_be_hidden()
    alert_rule_create(
        owner=user,
        product_id=product.pk,
        spec={"kind": "price_above", "figure": "cheapest", "threshold": cheapest},
    )

    # The simulator's ticks move the price; each sync is the real one, over HTTP.
    header = page.get_by_role("navigation", name="Main")
    for _ in range(60):
        time.sleep(1.1)
        offers_sync(product_id=product.pk)
        moved = product_stats(product=product).min_price
        if moved is not None and moved != cheapest:
            break
    assert moved is not None and moved != cheapest, "the simulator's price never moved"
    way = "below" if moved < cheapest else "above"
    message = f"The cheapest offer is {moved:,} CZK, {way} {cheapest:,} CZK."
    expect(
        header.get_by_role("link", name=re.compile(r"Alerts \(\d+ unread alerts?\)"))
    ).to_be_visible(timeout=10_000)
    expect(section.locator("#alert-history")).to_contain_text(message)
    header.get_by_role("link", name=re.compile(r"^Alerts")).click()
    expect(page.locator(".alert-item").first).to_contain_text(message)
    assert page_errors == []
    assert outside_requests == []
