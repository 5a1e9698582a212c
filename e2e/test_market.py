"""Market position in Chromium: a MAP set in the product form's dialog, offers stored as the sync
stores them (pricing's store, through the store_offers fixture) with one below the MAP at two
syncs 17 minutes apart, that offer marked in the offers table and listed with its 17 minutes in
the MAP violations card and on the MAP page; the overview's "what moved" links filtering the
table, all without a page reload."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from pricing.selectors import current_offers


def mark_document(page):
    """A flag that a full page load would wipe out."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page):
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"


@pytest.fixture
def product(make_product):
    """The user's product with two offers, synced an hour ago; no MAP yet."""
    return make_product(
        "Espresso machine", [(1200, 3), (1500, 1)], synced_ago=timedelta(hours=1), my_price=1300
    )


def test_a_map_set_in_the_form_shows_who_sells_below_it_and_for_how_long(
    settings,
    live_server,
    product,
    signed_in_page,
    store_offers,
    page_errors,
    outside_requests,
    artifacts_dir,
):
    settings.PRICE_CURRENCY = "CZK"
    page = signed_in_page
    mark_document(page)

    # The MAP, set in the overview's dialog: the currency in the help text, errors in place.
    page.get_by_role("link", name="Edit Espresso machine").click()
    dialog = page.get_by_role("dialog")
    map_field = dialog.get_by_label("Minimum advertised price (MAP)")
    expect(dialog.get_by_text("Optional, in whole CZK: offers below it are MAP")).to_be_visible()
    map_field.fill("0")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.locator("#id_map_price_error")).to_contain_text("greater than or equal to 1")
    map_field.fill("1100")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("“Espresso machine” saved.")).to_be_visible()
    assert_same_document(page)
    product.refresh_from_db()
    assert (product.map_price, product.my_price) == (1100, 1300)

    # Two syncs 17 minutes apart, as the sync stores them: the 1,200 offer went to 1,050 and
    # stayed there; the other stayed at 1,500.
    cheap, dear = current_offers(product=product)
    now = timezone.now()
    for at in (now - timedelta(minutes=17), now):
        store_offers(product, [(cheap.offer_id, 1050, 3), (dear.offer_id, 1500, 1)], at=at)

    page.get_by_role("link", name="Espresso machine", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Espresso machine")
    # The offers table: the offer below the MAP says so in words, and my price has its row.
    below = page.locator("#offers-table tr.below-map")
    expect(below).to_have_count(1)
    expect(below).to_contain_text("1,050 CZK")
    expect(below.get_by_text("Below MAP", exact=True)).to_be_visible()
    expect(page.locator("#offers-table tr.my-price-row")).to_contain_text("1,300 CZK")
    # The market position card.
    position = page.locator("#market-position")
    expect(position).to_contain_text("2nd of 3")
    expect(position).to_contain_text("1 below MAP")
    # The MAP violations card, loaded after the page: 17 minutes below, below now.
    violations = page.locator("#map-violations")
    row = violations.locator("tbody tr")
    expect(row).to_have_count(1, timeout=10_000)
    expect(row).to_contain_text(cheap.offer_id.hex[:8])
    expect(row.locator('[data-label="Time below MAP"]')).to_have_text("17 min")
    expect(row).to_contain_text("1,050 CZK (4.55 % below MAP)")
    expect(row.get_by_text("Below now")).to_be_visible()
    # Its window is in the URL, swapped in place.
    mark_document(page)
    violations.get_by_role("link", name="30 d").click()
    expect(page).to_have_url(re.compile(r"map=30d"))
    expect(violations.get_by_role("link", name="30 d")).to_have_attribute("aria-current", "true")
    expect(violations.locator("tbody tr")).to_have_count(1)
    # The long memory card loads too, with its own windows.
    memory = page.locator("#price-memory")
    expect(memory.get_by_text("Time-weighted mean")).to_be_visible(timeout=10_000)
    memory.get_by_role("link", name="7 d").click()
    expect(page).to_have_url(re.compile(r"map=30d&memory=7d"))
    expect(memory.get_by_role("columnheader", name="Last 7 d")).to_be_visible()
    assert_same_document(page)
    # The chart: the offer-count row and the MAP line are drawn.
    chart = page.locator(".price-chart")
    expect(chart.locator(".y2tick").first).to_be_attached(timeout=10_000)
    expect(chart.get_by_text("MAP: 1,100 CZK")).to_be_attached()
    page.screenshot(path=artifacts_dir / "market-product.png", full_page=True)

    # The catalogue-wide page, from the nav.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="MAP").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("MAP violations")
    listed = page.locator("#map-list tbody tr")
    expect(listed).to_have_count(1)
    expect(listed.locator('[data-label="Time below MAP"]')).to_have_text("17 min")
    listed.get_by_role("link", name="Espresso machine").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Espresso machine")

    # On a phone nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#map-violations tbody tr")).to_have_count(1, timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir / "market-product-phone.png", full_page=True)
    assert page_errors == []
    assert outside_requests == []


def test_what_moved_links_filter_the_table_in_place(
    live_server, signed_in_page, make_product, store_offers, page_errors, outside_requests
):
    drops = make_product("Grinder", [(500, 1), (700, 1)], synced_ago=timedelta(hours=2))
    make_product("Kettle", [(100, 1)], synced_ago=timedelta(hours=2))
    cheap, dear = current_offers(product=drops)
    store_offers(drops, [(cheap.offer_id, 450, 1), (dear.offer_id, 700, 1)])
    page = signed_in_page
    page.reload()
    table = page.locator("#product-table")
    expect(table.get_by_role("link", name="Kettle", exact=True)).to_be_visible()
    mark_document(page)

    panel = page.locator("#what-moved")
    panel.get_by_role("link", name="7 d").click()
    expect(page).to_have_url(re.compile(r"within=7d"))
    drops_link = panel.get_by_role("link", name=re.compile(r"^1 Price drops in 1 product"))
    drops_link.click()
    expect(page).to_have_url(re.compile(r"moved=drops&within=7d"))
    expect(table.get_by_role("link", name="Grinder", exact=True)).to_be_visible()
    expect(table.get_by_role("link", name="Kettle", exact=True)).to_have_count(0)
    expect(page.get_by_text("Filtered by: Price drops in the last 7 days")).to_be_visible()
    # Combinable with sorting and search: the filter stays.
    table.get_by_role("link", name="Rank").click()
    expect(page).to_have_url(re.compile(r"sort=rank&moved=drops"))
    page.get_by_role("searchbox").fill("kett")
    expect(table.get_by_role("heading", name=re.compile("No products matching"))).to_be_visible()
    page.get_by_role("searchbox").fill("")
    expect(table.get_by_role("link", name="Grinder", exact=True)).to_be_visible()
    # The chip's × clears it.
    page.get_by_role("link", name=re.compile("Clear the filter")).first.click()
    expect(table.get_by_role("link", name="Kettle", exact=True)).to_be_visible()
    expect(page).not_to_have_url(re.compile(r"moved="))
    assert_same_document(page)
    assert page_errors == []
    assert outside_requests == []
