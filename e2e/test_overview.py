"""Managing the catalogue in Chromium: no page reloads, errors in place, keyboard only."""

import re

import pytest
from playwright.sync_api import expect

from products.models import Product


@pytest.fixture
def signed_up(live_server, page, confirm_email):
    """A new user signed up through the page (and the emailed link), on their (empty)
    dashboard."""
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email:").fill("grace@example.com")
    page.get_by_label("Password:", exact=True).fill("a-long-passphrase-1")
    page.get_by_label("Password (again):").fill("a-long-passphrase-1")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()
    confirm_email(page, "grace@example.com")
    expect(page).to_have_url(re.compile(r"/dashboard/$"))
    return page


def mark_document(page):
    """A flag that a full page load would wipe out."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page):
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"


def test_add_edit_and_delete_a_product_without_a_reload(signed_up, page_errors, artifacts_dir):
    page = signed_up
    expect(page.get_by_role("heading", name="Add your first product")).to_be_visible()
    mark_document(page)

    page.get_by_role("link", name="+ Add product").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name:").fill("Espresso machine")
    dialog.get_by_label("Description:").fill("Stainless steel, 15 bar")
    dialog.get_by_role("button", name="Add product").click()
    expect(dialog).to_be_hidden()
    table = page.locator("#product-table")
    expect(table.get_by_role("link", name="Espresso machine", exact=True)).to_be_visible()
    expect(page.get_by_text("“Espresso machine” added.")).to_be_visible()
    tracked = page.locator("#summary-cards .stat").filter(has_text="Products tracked")
    expect(tracked.locator(".stat-value")).to_have_text("1")
    assert_same_document(page)

    table.get_by_role("link", name="Edit Espresso machine").click()
    expect(dialog.get_by_label("Name:")).to_have_value("Espresso machine")
    dialog.get_by_label("Name:").fill("Espresso machine Pro")
    dialog.get_by_role("button", name="Save changes").click()
    expect(table.get_by_role("link", name="Espresso machine Pro", exact=True)).to_be_visible()
    assert_same_document(page)
    page.screenshot(path=artifacts_dir / "overview.png", full_page=True)

    table.get_by_role("link", name="Delete Espresso machine Pro").click()
    expect(dialog.get_by_role("heading")).to_have_text("Delete “Espresso machine Pro”?")
    dialog.get_by_role("button", name="Delete product").click()
    expect(page.get_by_role("heading", name="Add your first product")).to_be_visible()
    assert_same_document(page)
    assert page_errors == []


def test_a_validation_error_is_shown_in_place(signed_up, page_errors):
    page = signed_up
    mark_document(page)
    page.get_by_role("link", name="+ Add product").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name:").fill("   ")
    dialog.get_by_role("button", name="Add product").click()
    expect(dialog.get_by_text("This field is required.")).to_be_visible()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name:").fill("Fixed")
    dialog.get_by_role("button", name="Add product").click()
    expect(
        page.locator("#product-table").get_by_role("link", name="Fixed", exact=True)
    ).to_be_visible()
    assert_same_document(page)
    assert page_errors == []


def test_the_create_form_by_keyboard_alone(signed_up, page_errors):
    page = signed_up
    # A slow settle, as on a busy machine: focus must not jump back to the name field when
    # htmx settles the form (it focuses [autofocus]) after the user has tabbed on.
    page.evaluate("htmx.config.defaultSettleDelay = 400")
    page.get_by_role("link", name="+ Add product").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name:")).to_be_focused()
    page.keyboard.type("Typed product")
    page.keyboard.press("Tab")
    page.wait_for_timeout(600)  # past any settle still to come
    expect(dialog.get_by_label("Description:")).to_be_focused()
    page.keyboard.type("No mouse used")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("My price:")).to_be_focused()
    page.keyboard.type("1290")
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Minimum advertised price (MAP):")).to_be_focused()
    page.keyboard.type("1100")
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Add product")).to_be_focused()
    page.keyboard.press("Enter")
    expect(
        page.locator("#product-table").get_by_role("link", name="Typed product", exact=True)
    ).to_be_visible()
    typed = Product.objects.get(name="Typed product")
    assert (typed.my_price, typed.map_price) == (1290, 1100)
    # Escape closes a dialog opened by keyboard too.
    page.get_by_role("link", name="+ Add product").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page_errors == []


def test_search_sort_and_paging_are_kept_in_the_url(signed_up, page_errors):
    from products.models import Product
    from products.services import product_create

    page = signed_up
    owner = Product._meta.get_field("owner").related_model.objects.get()
    for name in ["Apple", "Banana", "Cherry", "Apricot"]:
        product_create(owner=owner, name=name)
    page.reload()
    mark_document(page)
    page.get_by_role("searchbox", name="Search products").fill("ap")
    expect(page).to_have_url(re.compile(r"\?q=ap$"))
    rows = page.locator("#product-table tbody tr .name-cell")
    expect(rows).to_have_text(["Apple", "Apricot"])
    page.get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"q=ap&sort=-name"))
    expect(rows).to_have_text(["Apricot", "Apple"])
    assert_same_document(page)
    page.reload()  # a reload (or a shared link) shows the same view
    expect(rows).to_have_text(["Apricot", "Apple"])
    expect(page.get_by_role("searchbox", name="Search products")).to_have_value("ap")
    assert page_errors == []


def test_no_horizontal_scrolling_on_a_phone(signed_up, artifacts_dir):
    from products.models import Product
    from products.services import product_create

    page = signed_up
    owner = Product._meta.get_field("owner").related_model.objects.get()
    product_create(owner=owner, name="A product with a rather long name to wrap on a phone")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#product-table .name-cell")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir / "overview-phone.png", full_page=True)
    page.get_by_role("link", name="+ Add product").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
