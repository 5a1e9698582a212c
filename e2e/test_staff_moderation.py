"""Staff in Chromium: find a failing product on the health page, suspend it with a reason in
the admin, and its owner's page turns read-only with that reason."""

import re

import pytest
from playwright.sync_api import expect

REASON = "Counterfeit brand: listing under review"


@pytest.fixture
def failing_product(make_product, set_tracking):
    product = make_product("Espresso machine", [(10000, 2), (12000, 1)])
    set_tracking(
        product, sync_failures=4, last_sync_error="The Offers service answered 503 four times"
    )
    return product


@pytest.fixture
def second_page(browser):
    """A page in a browser context of its own (its own cookies), closed before the live server
    stops, so that its polling cannot outlive the test."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


def sign_in(page, live_server, email: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def test_staff_suspend_a_failing_product_and_its_owner_sees_why(
    live_server,
    page,
    second_page,
    page_errors,
    failing_product,
    staff,
    user,
    password,
    settings,
    artifacts_dir,
):
    settings.DASHBOARD_REFRESH_SECONDS = 1
    product_url = f"{live_server.url}/products/{failing_product.pk}/"
    # The owner watches the product's page: editable, with Sync now.
    owner = second_page
    sign_in(owner, live_server, user.email, password)
    owner.goto(product_url)
    expect(owner.get_by_role("link", name="Edit", exact=True)).to_be_visible()
    expect(owner.get_by_role("button", name="Sync now")).to_be_visible()

    # Staff find it on the health page, among the failing products, with its error.
    sign_in(page, live_server, staff.email, password)
    page.get_by_role("link", name="Health").first.click()
    row = page.get_by_role("region", name="Failing", exact=True).locator(
        "tr", has_text="Espresso machine"
    )
    expect(row).to_contain_text("503 four times")
    row.get_by_role("link", name="Act on Espresso machine in the admin").click()

    # In the admin: select it, pick "Suspend", give the reason.
    page.wait_for_url(re.compile(r"/admin/products/product/\?q="))
    page.locator("input[name=_selected_action]").check()
    page.locator("select[name=action]").select_option(label="Suspend selected products…")
    page.locator("button[name=index]").click()
    expect(page.get_by_role("heading", name="Suspend products")).to_be_visible()
    page.get_by_label("Reason:").fill(REASON)
    page.screenshot(path=artifacts_dir / "staff-suspend-reason.png", full_page=True)
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_text("Suspended 1 product(s)")).to_be_visible()
    page.screenshot(path=artifacts_dir / "staff-suspended.png", full_page=True)

    # The owner's page, refreshing itself, says so and stops offering Sync now...
    offers = owner.locator("#offers-table")
    expect(offers).to_contain_text("Suspended", timeout=10_000)
    expect(offers).to_contain_text(REASON)
    expect(owner.get_by_role("button", name="Sync now")).to_have_count(0)
    # ...and once reloaded it is read-only, with the reason.
    owner.reload()
    expect(owner.get_by_text(f"Suspended by staff: {REASON}")).to_be_visible()
    expect(owner.get_by_role("link", name="Edit")).to_have_count(0)
    expect(owner.get_by_role("link", name="Delete")).to_have_count(0)
    owner.screenshot(path=artifacts_dir / "owner-suspended.png", full_page=True)

    # The act is in the product's audit trail, with who did it and why.
    page.goto(f"{live_server.url}/admin/products/product/{failing_product.pk}/change/")
    trail = page.locator(".audit-trail")
    expect(trail).to_contain_text(f"Suspended. Reason: {REASON}")
    expect(trail).to_contain_text(staff.email)
    assert page_errors == []
