"""Market position in the HTML interface (issue 19): the product form's reference prices, the
product page's market position card, offers table marks, MAP violations and long memory
regions, the MAP violations page, and the long memory's own page. Every figure shown is the
selectors' (pricing.selectors), read back here to compare."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.humanize.templatetags.humanize import ordinal
from django.urls import reverse
from django.utils import timezone

from dashboard.tests.conftest import HTMX
from pricing.selectors import (
    MemoryWindow,
    current_offers,
    map_violations,
    price_memory,
    price_position,
)
from products.models import Product

pytestmark = pytest.mark.django_db

MAP_PAGE = reverse("dashboard:map")


def product_url(product, query: str = "") -> str:
    return reverse("dashboard:product", args=[product.pk]) + query


def region(client, product, target: str, query: str = ""):
    return client.get(product_url(product, query), headers={**HTMX, "HX-Target": target})


def money(value: int) -> str:
    return f"{value:,} CZK"


@pytest.fixture(autouse=True)
def _czk(settings):
    settings.PRICE_CURRENCY = "CZK"


@pytest.fixture
def watched(make_product, store_offers):
    """MAP 900, my price 1,100. Two syncs 17 minutes apart: offer A at 800 then back at 1,000
    (17 minutes below the MAP, not now), B at 880 both times (below now), C at 1,200."""
    product = make_product(
        "Espresso machine",
        [(800, 2), (880, 1), (1200, 4)],
        synced_ago=timedelta(minutes=17),
        my_price=1100,
        map_price=900,
    )
    a, b, c = current_offers(product=product)  # cheapest first
    store_offers(product, [(a.offer_id, 1000, 2), (b.offer_id, 880, 1), (c.offer_id, 1200, 4)])
    return product


def violations_of(product, days=7):
    now = timezone.now()
    return map_violations(
        owner=product.owner, start=now - timedelta(days=days), end=now, product_id=product.pk
    )


# --- The product form --------------------------------------------------------------------------


def test_the_form_shows_both_prices_with_the_currency(user_client):
    html = user_client.get(reverse("dashboard:product-new"), headers=HTMX).text
    assert 'name="my_price"' in html and 'name="map_price"' in html
    assert 'type="number"' in html
    assert "Optional, in whole CZK: where your price stands among the offers." in html
    assert "Optional, in whole CZK: offers below it are MAP violations." in html
    assert 'aria-describedby="id_map_price_helptext"' in html
    assert "Minimum advertised price (MAP)" in html


def test_prices_are_saved_and_cleared_through_the_form(user_client, make_product):
    product = make_product("Kettle")
    url = reverse("dashboard:product-edit", args=[product.pk])
    data = {"name": "Kettle", "description": "", "my_price": "1100", "map_price": "900"}
    assert user_client.post(url, data, headers=HTMX).status_code == 200
    product.refresh_from_db()
    assert (product.my_price, product.map_price) == (1100, 900)
    assert 'value="1100"' in user_client.get(url, headers=HTMX).text
    user_client.post(url, {**data, "my_price": "", "map_price": ""}, headers=HTMX)
    product.refresh_from_db()
    assert (product.my_price, product.map_price) == (None, None)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("abc", "Enter a whole number of CZK."),
        ("12.5", "Enter a whole number of CZK."),
        ("0", "greater than or equal to 1"),
        ("-5", "greater than or equal to"),
    ],
)
def test_a_bad_price_is_refused_in_place(user_client, value, error):
    response = user_client.post(
        reverse("dashboard:product-new"), {"name": "Kettle", "map_price": value}, headers=HTMX
    )
    assert response.status_code == 422
    body = response.text
    assert body.lstrip().startswith('<div id="product-form"')
    field = body[body.index('for="id_map_price"') : body.index("</fieldset>")]
    assert error in field and "field-invalid" in body
    assert not Product.objects.exists()


# --- The product page: market position and the offers table ------------------------------------


def test_the_market_position_card_shows_the_selectors_figures(user_client, watched):
    position = price_position(product=watched)
    assert position.rank is not None  # the history is what the test meant
    html = user_client.get(product_url(watched)).text
    card = html[html.index('id="market-position"') : html.index('id="chart-heading"')]
    assert money(1100) in card and money(900) in card
    assert f"{ordinal(position.rank)} of {position.rank_of}" in card
    assert f"{position.index_to_mean:,.2f} %" in card
    assert f"{position.index_to_min:,.2f} %" in card
    assert f"by up to {money(position.undercut_max)}" in card
    assert f"{position.below_map_count} below MAP" in card


def test_without_prices_the_card_asks_for_them(user_client, make_product):
    product = make_product("Plain", [(100, 1)])
    html = user_client.get(product_url(product)).text
    card = html[html.index('id="market-position"') : html.index('id="chart-heading"')]
    assert "Set <strong>your price</strong>" in card
    assert reverse("dashboard:product-edit", args=[product.pk]) in card
    assert " of " not in card and "%" not in card


def test_undefined_figures_show_a_dash(user_client, make_product):
    product = make_product("New", map_price=900)  # never synced: no offers, no price of mine
    html = user_client.get(product_url(product)).text
    card = html[html.index('id="market-position"') : html.index('id="chart-heading"')]
    assert card.count("<dd>—</dd>") >= 4  # my price, rank, both indexes
    assert "0.00 %" not in card


def test_offers_below_the_map_are_marked_in_words_and_my_price_is_placed(user_client, watched):
    table = region(user_client, watched, "offers-table").text
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table[table.index("<tbody>") :], re.S)
    shown = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]
    # Cheapest first: 880 (below the MAP), 1,000, then my price, then 1,200.
    assert shown[0].startswith("880 CZK Below MAP")
    assert shown[1].startswith("1,000 CZK") and "Below MAP" not in shown[1]
    assert shown[2].startswith("1,100 CZK Your price 2 offers above are cheaper")
    assert shown[3].startswith("1,200 CZK")
    assert "below your minimum advertised price of 900 CZK" in table


# --- The product page: MAP violations ----------------------------------------------------------


def test_the_page_loads_the_violations_card_after_it_is_up(user_client, watched):
    html = user_client.get(product_url(watched)).text
    card = html[html.index('<section id="map-violations"') :]
    card = card[: card.index("</section>")]
    assert 'hx-trigger="load"' in card
    # Without JavaScript: the MAP page, for this product and window.
    assert f'href="{MAP_PAGE}?product={watched.pk}&amp;period=7d"' in card


def test_the_violations_region_lists_the_selectors_violations_in_their_order(
    user_client, user, watched
):
    user.time_zone = "Asia/Tokyo"
    user.save()
    violations = violations_of(watched)
    assert len(violations) == 2 and violations[0].is_below_now  # B first: it is still below
    body = region(user_client, watched, "map-violations").text
    assert body.lstrip().startswith('<section id="map-violations"') and "<html" not in body
    rows = re.findall(r"<tr>\s*<td data-label=\"Offer\".*?</tr>", body, re.S)
    assert len(rows) == 2
    tokyo = ZoneInfo("Asia/Tokyo")
    for row, violation in zip(rows, violations, strict=True):
        assert violation.offer_id.hex[:8] in row.replace("-", "")
        assert "<strong>17 min</strong>" in row
        assert money(violation.lowest_price) in row
        assert f"({violation.undercut_percent:,.2f} % below MAP)" in row
        assert f"{violation.below_from.astimezone(tokyo):%-d %b, %H:%M}" in row
    assert "Below now" in rows[0] and "→ <span>now</span>" in rows[0]
    until = violations[1].below_until.astimezone(tokyo)
    assert "Below now" not in rows[1] and f"{until:%-d %b, %H:%M}" in rows[1]
    assert "(11.11 % below MAP)" in rows[1]  # A went to 800: (900 − 800) / 900
    assert "Times in Asia/Tokyo" in body


def test_the_violations_window_is_in_the_url(user_client, watched, store_offers):
    # Two days ago, offer D was below for an hour: in 7 and 30 days, not in 24 h.
    long_ago = timezone.now() - timedelta(days=2)
    store_offers(watched, [(400, 1)], at=long_ago)
    store_offers(watched, [(1000, 1)], at=long_ago + timedelta(hours=1))
    week = region(user_client, watched, "map-violations").text
    day = region(user_client, watched, "map-violations", "?map=24h").text
    assert "<strong>1 h</strong>" in week and "<strong>1 h</strong>" not in day
    assert 'aria-current="true" class="active">24 h<' in day
    # Its links send the window alone; the page's URL holds the chart's choices, and the
    # answer gives htmx the page's new URL (a poll, the same state: none).
    page = "http://testserver" + product_url(watched, "?period=7d&offers=1")
    headers = {**HTMX, "HX-Target": "map-violations", "HX-Current-URL": page}
    response = user_client.get(product_url(watched, "?map=30d"), headers=headers)
    assert response["HX-Push-Url"] == product_url(watched, "?period=7d&offers=1&map=30d")
    html = response.text
    assert f'href="{product_url(watched)}?period=7d&amp;offers=1&amp;map=24h"' in html
    assert f'hx-get="{product_url(watched)}?map=24h"' in html
    assert 'aria-current="true" class="active">30 d<' in html
    headers["HX-Current-URL"] = "http://testserver" + response["HX-Push-Url"]
    poll = user_client.get(product_url(watched, "?map=30d"), headers=headers)
    assert poll["HX-Push-Url"] == "false"
    # The chart's period, chosen later, keeps the window.
    headers["HX-Target"] = "product-live"
    chart = user_client.get(product_url(watched, "?period=30d"), headers=headers)
    assert chart["HX-Push-Url"] == product_url(watched, "?period=30d&offers=1&map=30d")
    assert "Change over 30 days" in chart.text


def test_without_a_map_the_card_explains_how_to_set_one(user_client, make_product):
    product = make_product("Plain", [(100, 1)], my_price=120)
    html = user_client.get(product_url(product)).text  # drawn with the page: no query needed
    card = html[html.index('<section id="map-violations"') :]
    assert "No MAP set" in card[: card.index("</section>")]
    assert "every " not in card[: card.index("</section>")]  # and not polled


# --- The product page: long memory -------------------------------------------------------------


def test_the_memory_region_shows_the_selectors_figures(user_client, watched, monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # time-weighted figures move with it
    body = region(user_client, watched, "price-memory", "?memory=30d").text
    assert body.lstrip().startswith('<section id="price-memory"') and "<html" not in body
    memory = price_memory(product=watched, window=MemoryWindow.MONTH, now=now)
    assert money(memory.lowest.price) in body and money(memory.highest.price) in body
    assert f"{memory.lowest.on:%-d %b %Y}" in body
    assert 'Time-weighted mean <span class="muted">(by how long each price held)</span>' in body
    assert f"{memory.time_weighted_mean:,.2f} CZK" in body
    assert f"{memory.time_weighted_cheapest:,.2f} CZK" in body
    assert f"{memory.snapshot_mean:,.2f} CZK" in body
    assert f"<dt>Price changes</dt><dd>{memory.price_changes}</dd>" in body
    assert f"{memory.mean_stddev:,.2f} CZK" in body
    assert "Last 30 d" in body and 'aria-current="true" class="active">30 d<' in body
    # Not 90 days old, so never "lowest in 90 days"; the badges follow the selector.
    assert ("Lowest ever" in body) is memory.is_lowest_ever
    assert "Lowest in 90 days</span>" not in body


def test_the_memory_card_loads_after_the_page_and_has_a_page_of_its_own(user_client, watched):
    html = user_client.get(product_url(watched, "?memory=180d")).text
    card = html[html.index('<section id="price-memory"') :]
    card = card[: card.index("</section>")]
    assert 'hx-trigger="load"' in card and f'hx-get="{product_url(watched)}?memory=180d"' in card
    own = reverse("dashboard:product-memory", args=[watched.pk])
    assert f'href="{own}?memory=180d"' in card
    page = user_client.get(own + "?memory=180d")
    assert page.status_code == 200 and "<html" in page.text
    assert "Time-weighted mean" in page.text and "Last 180 d" in page.text
    partial = user_client.get(own + "?memory=7d", headers={**HTMX, "HX-Target": "price-memory"})
    assert partial.text.lstrip().startswith('<section id="price-memory"')
    assert f'hx-get="{own}?memory=24h"' in partial.text  # its own page's links stay its own


def test_the_chart_periods_reach_a_year(user_client, watched):
    html = user_client.get(product_url(watched, "?period=365d")).text
    assert "Change over 365 days" in html
    for label in ("90 days", "180 days", "365 days"):
        assert f">{label}</a>" in html


def test_the_chart_carries_the_offer_count_and_reference_lines(user_client, watched):
    html = user_client.get(product_url(watched)).text
    assert "lower row: number of offers" in html and "dashed: your MAP and your price" in html
    match = re.search(r'<script id="price-figure" type="application/json">(.*?)</script>', html)
    figure = match.group(1)
    assert '"name": "Offers"' in figure and '"counts": [[0, 3]]' in figure
    assert "MAP: 900 CZK" in figure and "My price: 1,100 CZK" in figure


# --- Bad input, isolation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "?map=forever&memory=1y&period=10y&offers=maybe",
        "?map=%00&memory=%00",
        "?map=7d&map=24h&memory=",
    ],
)
def test_bad_query_values_fall_back_to_defaults(user_client, watched, query):
    assert user_client.get(product_url(watched, query)).status_code == 200
    for target in ("map-violations", "price-memory", "product-live", "offers-table"):
        assert region(user_client, watched, target, query).status_code == 200
    own = reverse("dashboard:product-memory", args=[watched.pk])
    assert user_client.get(own + query).status_code == 200
    for bad in ("?period=1y", "?period=%00", "?product=nope", "?product=%00&period=24h"):
        assert user_client.get(MAP_PAGE + bad).status_code == 200


def test_another_users_product_regions_and_pages_are_404(user_client, make_product, other_user):
    theirs = make_product("Theirs", [(100, 1)], owner=other_user, map_price=200)
    for target in ("map-violations", "price-memory"):
        assert region(user_client, theirs, target).status_code == 404
    own = reverse("dashboard:product-memory", args=[theirs.pk])
    assert user_client.get(own).status_code == 404
    assert user_client.get(own, headers=HTMX).status_code == 404


# --- The MAP violations page --------------------------------------------------------------------


def test_the_map_page_lists_the_catalogue_ranked_with_links(
    user_client, watched, make_product, store_offers, other_user
):
    longer = make_product(
        "Grinder", [(50, 1)], synced_ago=timedelta(hours=2), map_price=100, my_price=120
    )
    theirs = make_product(
        "Their kettle", [(1, 1)], owner=other_user, synced_ago=timedelta(hours=3), map_price=900
    )
    now = timezone.now()
    expected = map_violations(owner=watched.owner, start=now - timedelta(days=7), end=now)
    assert [v.product_name for v in expected] == ["Grinder", "Espresso machine", "Espresso machine"]
    html = user_client.get(MAP_PAGE).text
    assert "3 offers in 2 products" in html
    names = re.findall(r'<td data-label="Product" class="name-cell"><a href="([^"]+)">', html)
    assert names == [
        product_url(longer),
        product_url(watched),
        product_url(watched),
    ]
    assert "<strong>2 h</strong>" in html and html.count("<strong>17 min</strong>") == 2
    assert "Their kettle" not in html and str(theirs.pk) not in html
    # The nav link, current on this page.
    assert f'<a href="{MAP_PAGE}" title="MAP violations" aria-current="page">MAP</a>' in html


def test_the_map_page_for_one_product_and_a_window(user_client, watched, make_product, other_user):
    make_product("Grinder", [(50, 1)], synced_ago=timedelta(hours=2), map_price=100)
    html = user_client.get(MAP_PAGE, {"product": str(watched.pk), "period": "24h"}).text
    assert "Only “Espresso machine”" in html and "Grinder" not in html
    assert "2 offers in 1 product" in html and "over the last 24 hours" in html
    partial = user_client.get(MAP_PAGE, {"period": "30d"}, headers=HTMX)
    assert partial.text.lstrip().startswith('<section id="map-list"')
    assert "3 offers in 2 products" in partial.text
    # Someone else's product is no filter: it shows the user's own catalogue.
    theirs = make_product("Their kettle", [(1, 1)], owner=other_user, map_price=900)
    html = user_client.get(MAP_PAGE, {"product": str(theirs.pk)}).text
    assert "Only “" not in html and "3 offers in 2 products" in html


def test_the_map_page_empty_states(user_client, make_product):
    make_product("Plain", [(100, 1)])
    html = user_client.get(MAP_PAGE).text
    assert "No MAP set yet" in html
    assert "Minimum advertised price (MAP)" in html and reverse("dashboard:overview") in html
    make_product("Watched", [(100, 1)], map_price=50)
    assert "No offer below your MAP over the last 7 days" in user_client.get(MAP_PAGE).text


def test_the_map_page_needs_a_login(client):
    response = client.get(MAP_PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Query budgets ------------------------------------------------------------------------------

PAGE_BUDGET = 15


@pytest.fixture
def busy(make_product, minute_history, store_offers):
    """A month of minute history, many offers, a MAP and my price."""
    product = make_product(
        "Busy",
        [(100 + i, i % 3) for i in range(30)],
        my_price=110,
        map_price=105,
    )
    minutes = 30 * 24 * 60
    minute_history(product, start=timezone.now() - timedelta(minutes=minutes), count=minutes - 1)
    return product


@pytest.mark.parametrize("query", ["", "?period=30d&offers=1", "?period=all&offers=1&map=30d"])
def test_the_product_page_stays_within_its_query_budget(
    user_client, busy, django_assert_max_num_queries, query
):
    with django_assert_max_num_queries(PAGE_BUDGET):
        response = user_client.get(product_url(busy, query))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("target", "budget"),
    [("product-live", 12), ("offers-table", 5), ("map-violations", 6), ("price-memory", 5)],
)
def test_each_product_region_stays_within_its_query_budget(
    user_client, busy, django_assert_max_num_queries, target, budget
):
    with django_assert_max_num_queries(budget):
        response = region(user_client, busy, target, "?period=all&offers=1&map=30d&memory=365d")
    assert response.status_code == 200


def test_the_map_and_memory_pages_stay_within_their_budget(
    user_client, busy, watched, django_assert_max_num_queries
):
    with django_assert_max_num_queries(5):
        user_client.get(MAP_PAGE, {"period": "30d"})
    with django_assert_max_num_queries(6):
        user_client.get(MAP_PAGE, {"period": "30d", "product": str(busy.pk)})
    with django_assert_max_num_queries(5):
        user_client.get(reverse("dashboard:product-memory", args=[busy.pk]))
