"""Watching one product in Chromium: live offers, statistics and the price chart."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from offers_simulator.testing import run_simulator
from pricing.tasks import schedule_sync_runs
from products.services import product_create

pytestmark = pytest.mark.slow

CHART_POINTS = """() => {
  const plot = document.querySelector('.price-chart');
  if (!plot || !plot.data) return null;
  const mean = plot.data.find(trace => trace.name === 'Mean');
  return mean ? {x: Array.from(mean.x), y: Array.from(mean.y)} : null;
}"""


@pytest.fixture
def live_world(settings, huey_consumer, user, wait_until):
    """A simulator ticking every second, a real consumer syncing every 2 s, one product."""
    with run_simulator("--tick", "1") as simulator:
        settings.OFFERS_BASE_URL = simulator.base_url
        settings.OFFERS_REFRESH_TOKEN = simulator.refresh_token
        settings.DASHBOARD_REFRESH_SECONDS = 2
        settings.OFFERS_SYNC_INTERVAL = 2  # the web process's view of it, as in the consumer's
        huey_consumer(OFFERS_SYNC_INTERVAL="2", OFFERS_RETRIES="1", OFFERS_RETRY_BACKOFF="0.1")
        schedule_sync_runs()  # the scheduler's per-minute kick, now instead of at :00
        product = product_create(owner=user, name="Espresso <b>machine</b>")
        # About one simulated product in ten starts with no offers: wait until it has some.
        wait_until(
            lambda: (
                product.snapshots.count() >= 2 and product.offers.filter(is_current=True).exists()
            ),
            timeout=30,
            message=lambda: f"two syncs of the product with offers\n{huey_consumer.logs()}",
        )
        yield product


def offers_text(page) -> str:
    return page.locator("#offers-table tbody").inner_text()


def test_offers_and_chart_update_on_their_own(
    live_world, signed_in_page, page_errors, outside_requests, wait_until, artifacts_dir
):
    page = signed_in_page
    page.goto(page.url.replace("/dashboard/", f"/products/{live_world.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Espresso <b>machine</b>")
    expect(page.locator("#offers-table tbody tr").first).to_be_visible()

    first_chart = wait_until(
        lambda: page.evaluate(CHART_POINTS), timeout=10, message="the chart drawn with data"
    )
    # Some prices (a sync that found no offers, as a new product's first may, is a gap).
    assert any(value is not None for value in first_chart["y"])
    first_offers = offers_text(page)

    # Nobody touches the page: the table and the chart refresh themselves.
    wait_until(
        lambda: offers_text(page) != first_offers,
        timeout=20,
        message="the offers table changing on its own",
    )
    wait_until(
        lambda: (page.evaluate(CHART_POINTS) or {}).get("x") != first_chart["x"],
        timeout=20,
        message="the chart changing on its own",
    )
    # The title keeps the markup as text (plotly would render it).
    title = page.locator(".price-chart .gtitle").text_content()
    assert "<b>" in title

    page.screenshot(path=artifacts_dir / "product-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    wait_until(lambda: page.evaluate(CHART_POINTS), timeout=10, message="chart on a phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir / "product-phone.png", full_page=True)
    assert page_errors == []
    assert outside_requests == []


def test_switching_the_period_redraws_and_sync_now_runs(
    live_world, signed_in_page, page_errors, outside_requests, wait_until
):
    page = signed_in_page
    page.goto(page.url.replace("/dashboard/", f"/products/{live_world.pk}/"))
    wait_until(lambda: page.evaluate(CHART_POINTS), timeout=10, message="the chart")
    page.evaluate("document.querySelector('.price-chart').dataset.marker = 'old'")

    page.get_by_role("link", name="7 days").click()
    expect(page).to_have_url(re.compile(r"period=7d"))
    expect(page.get_by_text("Change over 7 days")).to_be_visible()
    wait_until(
        lambda: page.evaluate(
            "(() => { const p = document.querySelector('.price-chart');"
            " return p && p.dataset.marker !== 'old' && p.data && p.data.length > 0; })()"
        ),
        timeout=10,
        message="a new chart drawn for 7 days",
    )
    page.get_by_role("switch", name="One line per offer").click()
    expect(page).to_have_url(re.compile(r"period=7d&offers=1"))
    # The switch swaps the chart in again: the new element has no plot until plotly draws it.
    wait_until(
        lambda: page.evaluate(
            "(() => { const p = document.querySelector('.price-chart');"
            " return Boolean(p && p.data && p.data.some(t => t.name.startsWith('Offer'))); })()"
        ),
        timeout=10,
        message="per-offer lines",
    )

    page.get_by_role("button", name="Sync now").click()
    # It shows that it is running (the table polls each second), then that it is done.
    expect(page.get_by_role("button", name="Syncing…")).to_be_visible()
    expect(page.get_by_role("button", name="Sync now")).to_be_visible(timeout=15000)
    assert page_errors == []
    assert outside_requests == []


def test_an_unchanged_chart_is_kept_and_a_sync_redraws_it(
    settings,
    monkeypatch,
    make_product,
    store_offers,
    signed_in_page,
    page_errors,
    outside_requests,
    wait_until,
):
    """The live region polls every second; with nothing new the server answers 204 and the
    chart stays as drawn (zoom and legend clicks with it); a sync's new snapshot redraws it."""
    settings.DASHBOARD_REFRESH_SECONDS = 1
    # The live server runs in this process: no redraw step of the clock passes meanwhile.
    monkeypatch.setattr("dashboard.views.LIVE_REDRAW_AFTER", timedelta(days=36500))
    product = make_product("Kettle", [(1000, 2), (1200, 1)], synced_ago=timedelta(minutes=2))
    page = signed_in_page
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "shown=" in r.url else None)
    page.goto(page.url.replace("/dashboard/", f"/products/{product.pk}/"))
    wait_until(lambda: page.evaluate(CHART_POINTS), timeout=10, message="the chart")
    expect(page.locator("#product-live")).to_contain_text("1,100.00 CZK")
    page.evaluate("document.querySelector('.price-chart').dataset.marker = 'kept'")

    def unchanged_polls() -> int:
        page.wait_for_timeout(100)  # lets Playwright deliver the page's responses
        return polls.count(204)

    wait_until(lambda: unchanged_polls() >= 2, timeout=10, message=lambda: f"polls: {polls}")
    assert 200 not in polls
    assert page.evaluate("document.querySelector('.price-chart').dataset.marker") == "kept"

    store_offers(product, [(900, 2), (1200, 1)])  # a sync: a new snapshot
    expect(page.locator("#product-live")).to_contain_text("1,050.00 CZK", timeout=10000)
    chart = wait_until(
        lambda: page.evaluate(
            "(() => { const p = document.querySelector('.price-chart');"
            " return p && p.dataset.marker !== 'kept' && p.data ? p.data.length : 0; })()"
        ),
        timeout=10,
        message="the chart drawn again after the sync",
    )
    assert chart and 1050 in page.evaluate(CHART_POINTS)["y"]
    assert 200 in polls
    assert page_errors == []
    assert outside_requests == []
