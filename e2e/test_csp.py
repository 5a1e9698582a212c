"""Every page a user and a staff member reach, in Chromium, under the Content-Security-Policy
(settings: SECURE_CSP): the browser reports no violation, and each page still does its work
(the chart is drawn and styled, HTMX dialogs open, Swagger UI calls the API, the admin's
scripts run)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

# Installed before any script of every document: each violation goes to Python at once, so that
# one on a page the test has already left is not lost.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation({
    page: document.location.pathname + document.location.search,
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    sample: event.sample,
  });
}, true);
"""
CHART_DRAWN = """() => {
  const plot = document.querySelector('.price-chart');
  return Boolean(plot && plot.data && plot.querySelector('svg.main-svg'));
}"""
# Adds an inline script; answers the directive that refused it, and whether it ran.
INLINE_SCRIPT = """() => new Promise((resolve) => {
  document.addEventListener("securitypolicyviolation", (event) => resolve(event.violatedDirective),
                            {once: true});
  const script = document.createElement("script");
  script.textContent = "window.inlineScriptRan = true";
  document.head.append(script);
}).then((directive) => [directive, window.inlineScriptRan === true])"""
# A rule plotly.js adds for its mode bar (through the CSSOM, to the empty <style> it creates):
# computed only if the policy let that element be.
MODEBAR_POSITION = "getComputedStyle(document.querySelector('.price-chart .modebar')).position"


@pytest.fixture
def csp_violations(page):
    """What the browser blocked on `page`: the `securitypolicyviolation` events of every
    document, and its console's CSP messages (what htmx parses off the page, such as a history
    snapshot, fires no event there). Set up before the first page."""
    violations: list = []
    page.expose_function("reportCspViolation", lambda violation: violations.append(violation))
    page.add_init_script(REPORT_VIOLATIONS)

    def on_console(message):
        if "Content Security Policy" in message.text:
            where = message.location
            violations.append(f"{page.url} ({where['url']}:{where['lineNumber']}): {message.text}")

    page.on("console", on_console)
    return violations


@pytest.fixture
def product(make_product, minute_history):
    """The user's product: two current offers and two hours of history behind them."""
    product = make_product("Espresso machine", prices=[(1200, 3), (1500, 1)])
    now = timezone.now()
    minute_history(product, start=now - timedelta(hours=2), count=110)
    return product


def sign_in(page, live_server, email: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_placeholder("Email address").fill(email)
    page.get_by_placeholder("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def visit(page, live_server, path: str):
    page.goto(f"{live_server.url}{path}")
    page.wait_for_load_state("networkidle")
    return page


def test_a_violation_is_caught_and_reported(csp_violations, page, live_server, wait_until):
    """The watch itself: an inline script is refused, and both nets report it."""
    visit(page, live_server, "/")
    directive, ran = page.evaluate(INLINE_SCRIPT)
    assert (directive, ran) == ("script-src-elem", False)

    def reported():
        page.wait_for_timeout(50)  # lets Playwright deliver the page's messages
        return len(csp_violations) >= 2

    wait_until(reported, timeout=5, message=lambda: f"both reports, got {csp_violations}")
    event = next(report for report in csp_violations if isinstance(report, dict))
    assert event["directive"] == "script-src-elem"
    assert any("Content Security Policy" in str(report) for report in csp_violations)


def test_the_users_pages_run_under_the_policy(
    csp_violations, page, page_errors, live_server, product, user, password, settings, store_offers
):
    settings.DASHBOARD_REFRESH_SECONDS = 1  # the product page's live parts swap in meanwhile
    dialog = page.get_by_role("dialog")

    # Signed out: the landing page and allauth's pages.
    expect(visit(page, live_server, "/").get_by_role("link", name="Log in").first).to_be_visible()
    visit(page, live_server, "/accounts/signup/")
    expect(page.get_by_label("Password (again):")).to_be_visible()
    visit(page, live_server, "/accounts/password/reset/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Reset My Password").click()
    expect(page).to_have_url(re.compile(r"/accounts/password/reset/done/$"))
    # A form gone stale: Django's CSRF failure page (its <style> carries the nonce).
    visit(page, live_server, "/accounts/login/")
    page.context.clear_cookies()
    page.get_by_placeholder("Email address").fill(user.email)
    page.get_by_placeholder("Password").fill(password)
    with page.expect_response(lambda answer: answer.request.method == "POST") as posted:
        page.get_by_role("button", name="Sign In").click()
    assert posted.value.status == 403
    expect(page.get_by_role("heading", name="Forbidden")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgba(0, 0, 0, 0)"
    sign_in(page, live_server, user.email, password)

    # The overview: the search (HTMX), and the add, edit and delete dialogs (HTMX).
    page.get_by_role("searchbox").fill("Espresso")
    expect(page).to_have_url(re.compile(r"q=Espresso"))
    page.get_by_role("link", name="+ Add product").click()
    expect(dialog.get_by_role("heading", name="Add a product")).to_be_visible()
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name="Edit Espresso machine").click()
    dialog.get_by_label("Name:").fill("Espresso machine Pro")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("link", name="Espresso machine Pro", exact=True)).to_be_visible()
    page.get_by_role("link", name="Delete Espresso machine Pro").click()
    expect(dialog.get_by_role("button", name="Delete product")).to_be_visible()
    dialog.get_by_role("link", name="Keep it").click()
    expect(dialog).to_be_hidden()

    # The product page: offers, the chart drawn with plotly's own styles, its PNG download, a
    # period switch (HTMX, pushed to history), the live refresh after a sync (an unchanged
    # chart is not sent again), and back again (htmx restores the page from its snapshot).
    page.get_by_role("link", name="Espresso machine Pro", exact=True).click()
    expect(page.locator("#offers-table tbody tr")).to_have_count(2)
    page.wait_for_function(CHART_DRAWN)
    assert page.evaluate(MODEBAR_POSITION) == "absolute"
    page.locator(".price-chart .nsewdrag").first.hover()
    with page.expect_download() as download:
        page.locator('.modebar-btn[data-title="Download plot as a PNG"]').click()
    assert download.value.suggested_filename == "price-trend.png"
    page.get_by_role("link", name="7 days").click()
    expect(page).to_have_url(re.compile(r"period=7d"))
    page.wait_for_function(CHART_DRAWN)
    page.evaluate("document.querySelector('.price-chart').dataset.marker = 'before-refresh'")
    store_offers(product, [(1250, 3), (1500, 1)])
    page.wait_for_function("() => !document.querySelector('.price-chart[data-marker]')")
    page.wait_for_function(CHART_DRAWN)
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"period=7d"))
    page.wait_for_function(CHART_DRAWN)
    assert page.evaluate("document.querySelectorAll('#js-plotly-tester').length") == 1
    page.go_forward()
    expect(page).to_have_url(re.compile(r"period=7d"))
    page.wait_for_function(CHART_DRAWN)

    # The dashboard's forms as whole pages (no JavaScript needed), and a page not found.
    for path in (
        "/products/new/",
        f"/products/{product.pk}/edit/",
        f"/products/{product.pk}/delete/",
    ):
        expect(visit(page, live_server, path).get_by_role("button").first).to_be_visible()
    response = page.goto(f"{live_server.url}/products/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404

    # The profile (an API token made by HTMX) and its sub-pages, all allauth's.
    visit(page, live_server, "/accounts/profile/")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("Your API token")).to_be_visible()
    for path in (
        "/accounts/password/change/",
        "/accounts/email/",
        "/accounts/sessions/",
        "/accounts/delete/",
    ):
        expect(visit(page, live_server, path).get_by_role("heading", level=1)).to_be_visible()

    # The API docs: Swagger UI renders the schema and calls the API from the page.
    visit(page, live_server, "/api/v1/docs/")
    block = page.locator(".opblock.opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/v1/users/me/"]')
    )
    block.locator(".opblock-summary-control").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    answer = block.locator(".live-responses-table .response")
    expect(answer.locator(".response-col_status")).to_have_text("200")

    # Logging out posts a form (form-action).
    visit(page, live_server, "/dashboard/")
    page.get_by_role("navigation", name="Main").get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()

    assert csp_violations == []
    # The errors expected: the browser's notes of the 403 and the 404.
    assert [error for error in page_errors if not re.search(r"status of 40[34]", error)] == []


def test_the_alert_pages_run_under_the_policy(
    csp_violations, page, page_errors, live_server, product, user, password, settings, store_offers
):
    """The product's alert section (loaded by HTMX), the rule dialog with its back-test (an
    SVG bar strip drawn with attributes, no style), the badge's poll, the feed and the
    settings, with the signing secret's rotation (an HTMX confirm)."""
    settings.DASHBOARD_REFRESH_SECONDS = 1
    sign_in(page, live_server, user.email, password)
    dialog = page.get_by_role("dialog")

    visit(page, live_server, f"/products/{product.pk}/")
    section = page.locator("#product-alerts")
    expect(section.get_by_role("link", name="+ New alert")).to_be_visible()
    expect(section).not_to_have_class(re.compile(r"\bhtmx-added\b"))
    section.get_by_role("link", name="+ New alert").click()
    dialog.get_by_label("Price (CZK)").fill("1100")  # the history (100–106 CZK) is below it
    expect(dialog.locator(".backtest-bars")).to_be_visible()
    dialog.get_by_role("button", name="Create alert").click()
    expect(dialog).to_be_hidden()
    expect(section.get_by_text("Cheapest offer below 1,100 CZK")).to_be_visible()
    store_offers(product, [(1000, 3), (1500, 1)])
    expect(page.get_by_role("link", name="Alerts (1 unread alert)")).to_be_visible()

    visit(page, live_server, "/alerts/")
    page.get_by_role("link", name="Unread only").click()
    expect(page).to_have_url(re.compile(r"unread=1"))
    page.get_by_role("button", name="Mark all read (1)").click()
    expect(page.get_by_role("heading", name="Nothing unread")).to_be_visible()

    visit(page, live_server, "/alerts/settings/")
    page.get_by_label("Webhook URL").fill("https://hooks.example.com/prices")
    page.get_by_role("button", name="Save settings").click()
    secret = page.get_by_role("textbox", name="Your signing secret")
    old = secret.input_value()
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Rotate").click()
    expect(secret).not_to_have_value(old)

    # The plain pages a browser without JavaScript would use.
    for path in (f"/products/{product.pk}/alerts/", f"/products/{product.pk}/alerts/new/"):
        expect(visit(page, live_server, path).get_by_role("heading").first).to_be_visible()

    assert csp_violations == []
    assert page_errors == []


def test_the_staff_pages_and_the_admin_run_under_the_policy(
    csp_violations, page, page_errors, live_server, product, staff, user, password
):
    sign_in(page, live_server, staff.email, password)

    visit(page, live_server, "/staff/health/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    visit(page, live_server, "/admin/")
    # The admin's own scripts run: the theme toggle switches the colour theme.
    theme = page.evaluate("document.documentElement.dataset.theme || 'auto'")
    page.locator("button.theme-toggle").first.click()
    assert page.evaluate("document.documentElement.dataset.theme") != theme

    changelists = [
        "/admin/accounts/user/",
        "/admin/products/product/",
        "/admin/account/emailaddress/",
        "/admin/auth/group/",
        "/admin/authtoken/tokenproxy/",
        "/admin/usersessions/usersession/",
    ]
    for path in changelists:
        visit(page, live_server, path)
        expect(page.locator("#changelist")).to_be_visible()
    # Filters, search and the select-all of the actions (admin/js/actions.js).
    visit(page, live_server, "/admin/accounts/user/?q=example")
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("selected")

    # Change and add forms, with the admin's widgets (select filters, related links).
    visit(page, live_server, f"/admin/accounts/user/{user.pk}/change/")
    expect(page.locator("#user_form")).to_be_visible()
    visit(page, live_server, f"/admin/products/product/{product.pk}/change/")
    visit(page, live_server, "/admin/auth/group/add/")
    expect(page.locator(".selector-available")).to_be_visible()  # SelectFilter2 ran
    visit(page, live_server, f"/admin/accounts/user/{user.pk}/history/")
    visit(page, live_server, "/admin/password_change/")

    # A moderation action asks for its reason on a page of its own (admin/js/cancel.js).
    visit(page, live_server, "/admin/products/product/")
    page.locator("input.action-select").first.check()
    page.locator("select[name=action]").select_option("suspend")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_label("Reason:")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/admin/products/product/$"))

    assert csp_violations == []
    assert page_errors == []
