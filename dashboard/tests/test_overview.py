"""The overview: full page versus partial, search, sort, paging, statistics, escaping."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.tests.conftest import HTMX
from pricing.selectors import (
    Movement,
    ProductOrder,
    catalogue_movements,
    current_offers,
    price_position_many,
    products_ordered,
)
from products.models import Product

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:overview")


def names_in(html: str) -> list[str]:
    return re.findall(r'<td data-label="Name" class="name-cell">\s*<a [^>]*>([^<]*)</a>', html)


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_empty_state_invites_the_first_product(user_client):
    html = user_client.get(URL).content.decode()
    assert "Add your first product" in html
    assert reverse("dashboard:product-new") in html


def test_full_page_versus_partial(user_client, make_product):
    make_product("Kettle", [(100, 1)])
    full = user_client.get(URL)
    partial = user_client.get(URL, headers=HTMX)
    assert "<html" in full.content.decode() and 'id="product-table"' in full.content.decode()
    body = partial.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="product-table"')
    assert "Kettle" in body
    assert "HX-Request" in full["Vary"] and "HX-Request" in partial["Vary"]


def test_a_history_restore_gets_the_full_page(user_client):
    response = user_client.get(URL, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in response.content.decode()


def test_statistics_shown_with_thousands_separators(user_client, make_product, settings):
    settings.PRICE_CURRENCY = "CZK"
    make_product("Sofa", [(12000, 1), (14000, 3)])
    html = user_client.get(URL).content.decode()
    assert "13,000.00 CZK" in html  # mean
    assert "13,500.00 CZK" in html  # stock-weighted mean: (12000 + 42000) / 4


def test_never_synced_figures_are_undefined_not_zero(user_client, make_product):
    make_product("Fresh")
    html = user_client.get(URL).content.decode()
    row = html[html.index("Fresh") :]
    assert "0.00 CZK" not in row[:2000]
    assert "—" in row[:2000]
    assert "Registering" in row


def test_search_filters_by_name_and_description(user_client, make_product):
    make_product("Red kettle", description="electric")
    make_product("Blue teapot", description="ceramic")
    assert names_in(user_client.get(URL, {"q": "KETTLE"}).content.decode()) == ["Red kettle"]
    assert names_in(user_client.get(URL, {"q": "ceramic"}).content.decode()) == ["Blue teapot"]
    html = user_client.get(URL, {"q": "nothing-like-this"}).content.decode()
    assert "No products match" in html


def test_sorting_by_name_and_by_mean_price_both_ways(user_client, make_product):
    make_product("B", [(300, 1)])
    make_product("A", [(200, 1)])
    make_product("C", [(100, 1)])
    make_product("D")  # no price: always last
    assert names_in(user_client.get(URL).content.decode()) == ["A", "B", "C", "D"]
    assert names_in(user_client.get(URL, {"sort": "-name"}).content.decode()) == [
        "D",
        "C",
        "B",
        "A",
    ]
    assert names_in(user_client.get(URL, {"sort": "mean"}).content.decode()) == ["C", "A", "B", "D"]
    assert names_in(user_client.get(URL, {"sort": "-mean"}).content.decode()) == [
        "B",
        "A",
        "C",
        "D",
    ]


def test_sorting_by_the_24h_change(user_client, make_product, store_offers):
    rising = make_product("Rising", [(100, 1)], synced_ago=timedelta(hours=23))
    falling = make_product("Falling", [(100, 1)], synced_ago=timedelta(hours=23))
    make_product("Unknown")
    for product, price in [(rising, 150), (falling, 50)]:
        (offer,) = current_offers(product=product)
        store_offers(product, [(offer.offer_id, price, 1)])
    assert names_in(user_client.get(URL, {"sort": "change"}).content.decode()) == [
        "Falling",
        "Rising",
        "Unknown",
    ]
    html = user_client.get(URL, {"sort": "-change"}).content.decode()
    assert names_in(html) == ["Rising", "Falling", "Unknown"]
    assert "▲ +50.00 %" in html and "▼ −50.00 %" in html


def test_an_unknown_sort_or_page_is_ignored_not_an_error(user_client, make_product):
    make_product("A")
    assert user_client.get(URL, {"sort": "password"}).status_code == 200
    assert user_client.get(URL, {"page": "abc"}).status_code == 200
    assert user_client.get(URL, {"page": "999"}).status_code == 200
    assert user_client.get(URL, {"q": "a\x00b"}).status_code == 200


def test_paging_keeps_search_and_sort_in_the_links(user_client, make_product):
    for index in range(30):
        make_product(f"Item {index:02}")
    html = user_client.get(URL, {"q": "Item", "sort": "-name"}).content.decode()
    assert len(names_in(html)) == 25
    assert "?q=Item&amp;sort=-name&amp;page=2" in html
    second = user_client.get(URL, {"q": "Item", "sort": "-name", "page": 2}).content.decode()
    assert names_in(second) == [f"Item {index:02}" for index in range(4, -1, -1)]


def test_bounded_queries_with_50_products(
    user_client, make_product, make_sync_run, django_assert_max_num_queries
):
    for index in range(50):
        make_product(f"P{index:02}", [(100 + index, 2), (200, 1)])
    make_sync_run(finished_at=timezone.now())
    with django_assert_max_num_queries(14):
        response = user_client.get(URL, {"sort": "mean"})
    assert len(names_in(response.content.decode())) == 25
    with django_assert_max_num_queries(14):
        user_client.get(URL, {"sort": "change"})


def test_markup_in_a_product_name_is_shown_as_text(user_client, make_product):
    make_product("<img src=x onerror=alert(1)>")
    html = user_client.get(URL).content.decode()
    assert "<img src=x onerror=alert(1)>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_summary_cards(user_client, make_product, make_sync_run, other_user):
    make_product("A", [(100, 1), (200, 1)])
    make_product("Theirs", [(1, 1)], owner=other_user)
    make_sync_run(
        started_at=timezone.now() - timedelta(minutes=2),
        finished_at=timezone.now(),
        products_total=2,
        products_synced=2,
    )
    html = user_client.get(URL).content.decode()
    cards = html[html.index('class="summary-cards"') : html.index('role="search"')]
    assert re.search(r"Products tracked</span>\s*<span class=\"stat-value\">1<", cards)
    assert re.search(r"Current offers</span>\s*<span class=\"stat-value\">2<", cards)
    assert "All your syncs succeeded" in cards
    assert "Theirs" not in html


def test_suspended_products_show_a_badge_and_no_edit(user_client, make_product):
    from products.services import product_suspend

    product = product_suspend(product=make_product("Banned"), reason="Counterfeit")
    html = user_client.get(URL).content.decode()
    assert "Suspended" in html and "Counterfeit" in html
    assert reverse("dashboard:product-edit", args=[product.pk]) not in html


def test_sync_status_labels(user_client, make_product, set_tracking, settings):
    settings.OFFERS_SYNC_INTERVAL = 60
    fresh = make_product("Fresh", [(1, 1)], synced_ago=timedelta(minutes=2))
    stale = make_product("Stale", [(1, 1)], synced_ago=timedelta(minutes=10))
    broken = make_product("Broken", [(1, 1)])
    set_tracking(broken, sync_failures=2, last_sync_error="http://10.0.0.5 is down")
    html = user_client.get(URL).content.decode()
    assert "Synced 2\xa0minutes ago" in html or "Synced 2 minutes ago" in html
    assert ">Stale<" in html
    assert "The last 2 syncs could not get" in html and "10.0.0.5" not in html
    assert fresh and stale


def test_the_summary_cards_refresh_on_their_own(user_client, make_product):
    make_product("A", [(100, 1)])
    response = user_client.get(URL, headers={**HTMX, "HX-Target": "summary-cards"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="summary-cards"')
    assert "product-table" not in body


# --- Market position: my price, rank, index; what moved ------------------------------------------


@pytest.fixture
def priced(make_product, store_offers):
    """Three products with my price, synced an hour ago and again now: Drops' cheapest offer
    drops, Rises' rises, Still's stays."""
    products = {
        "Drops": make_product("Drops", [(100, 1), (200, 1)], my_price=150, synced_ago=H),
        "Rises": make_product("Rises", [(300, 1), (400, 1)], my_price=250, synced_ago=H),
        "Still": make_product("Still", [(50, 1), (60, 1)], my_price=70, synced_ago=H),
    }
    for name, change in (("Drops", -20), ("Rises", +20), ("Still", 0)):
        offers = current_offers(product=products[name])
        store_offers(
            products[name],
            [
                (offers[0].offer_id, offers[0].price + change, 1),
                (offers[1].offer_id, offers[1].price, 1),
            ],
        )
    make_product("Unpriced", [(10, 1)])
    return products


H = timedelta(hours=1)


def test_market_columns_show_the_selectors_figures(user_client, priced):
    positions = price_position_many(product_ids=[p.pk for p in priced.values()])
    html = user_client.get(URL).content.decode()
    for name, product in priced.items():
        row = html[html.index(f'id="product-{product.pk}"') :]
        row = row[: row.index("</tr>")]
        position = positions[product.pk]
        assert f'<td data-label="My price" class="num">{product.my_price:,} CZK</td>' in row, name
        assert f'<td data-label="Rank" class="num">{position.rank} / {position.rank_of}</td>' in row
        assert f'<td data-label="Index" class="num">{position.index_to_min:,.2f} %</td>' in row
    header = html[html.index("<thead>") : html.index("</thead>")]
    for label in ("My price", "Rank", "Index"):
        assert f">{label}</a>" in header
    unpriced = html[html.index("Unpriced") :]
    assert '<td data-label="Rank" class="num">—</td>' in unpriced[: unpriced.index("</tr>")]


@pytest.mark.parametrize("column", ["my-price", "rank", "index"])
def test_sorting_by_the_market_columns(user_client, priced, column):
    products = Product.objects.for_owner(priced["Drops"].owner)
    by = {
        "my-price": ProductOrder.MY_PRICE,
        "rank": ProductOrder.RANK,
        "index": ProductOrder.INDEX_TO_MIN,
    }
    for descending in (False, True):
        expected = [
            p.name
            for p in products_ordered(
                products, by=by[column], descending=descending, now=timezone.now()
            )
        ]
        sort = f"-{column}" if descending else column
        assert names_in(user_client.get(URL, {"sort": sort}).content.decode()) == expected
    assert expected[-1] == "Unpriced"  # undefined last, either way


def test_what_moved_counts_are_the_selectors_and_link_to_the_filtered_table(user_client, priced):
    now = timezone.now()
    movements = catalogue_movements(
        owner=priced["Drops"].owner, start=now - timedelta(days=7), end=now
    )
    html = user_client.get(URL, {"within": "7d", "q": "s", "sort": "-name"}).content.decode()
    panel = html[html.index('id="what-moved"') : html.index('role="search"')]
    for count in movements.counts:
        link = re.search(
            rf'<a href="([^"]+)" hx-get="[^"]+"\s+data-movement="{count.movement}">\s*'
            rf'<span class="moved-count">{count.events}</span>\s*'
            rf'<span class="moved-label">{count.movement.label}</span>\s*'
            rf'<span class="moved-products muted">in {count.products} product',
            panel,
        )
        assert link, count
        # The link keeps the search and the sort.
        assert link.group(1) == f"?q=s&amp;sort=-name&amp;moved={count.movement}&amp;within=7d"
    drops = {c.movement: c for c in movements.counts}[Movement.DROPS]
    assert (drops.events, drops.products) == (1, 1)


def test_the_moved_filter_narrows_the_table_with_a_chip_to_clear_it(user_client, priced):
    html = user_client.get(URL, {"moved": "drops", "within": "7d"}).content.decode()
    assert names_in(html) == ["Drops"]
    table = html[html.index('id="product-table"') :]
    assert "Filtered by: Price drops in the last 7 days" in table
    assert 'href="?" hx-get="?moved=" hx-target="#catalogue"' in table  # the chip's ×
    # The search form carries the filter, so searching keeps it.
    form = html[html.index('role="search"') : html.index('id="product-table"')]
    assert '<input type="hidden" name="moved" value="drops">' in form
    assert '<input type="hidden" name="within" value="7d">' in form
    assert names_in(user_client.get(URL, {"moved": "rises", "q": "ris"}).content.decode()) == [
        "Rises"
    ]
    assert names_in(user_client.get(URL, {"moved": "rises", "q": "drop"}).content.decode()) == []
    empty = user_client.get(URL, {"moved": "sold-out"}).content.decode()
    assert "No products with “Ran out of stock in the last 24 hours”" in empty


def test_the_panels_links_swap_the_catalogue_and_the_tables_links_the_table(user_client, priced):
    catalogue = user_client.get(
        URL, {"moved": "drops"}, headers={**HTMX, "HX-Target": "catalogue"}
    ).content.decode()
    assert catalogue.lstrip().startswith('<div id="catalogue">') and "<html" not in catalogue
    assert 'id="what-moved"' in catalogue and 'role="search"' in catalogue
    assert names_in(catalogue) == ["Drops"]
    table = user_client.get(URL, {"moved": "drops", "sort": "-rank"}, headers=HTMX).content.decode()
    assert table.lstrip().startswith('<section id="product-table"')
    assert 'id="what-moved"' not in table and names_in(table) == ["Drops"]


def test_paging_keeps_the_moved_filter(user_client, make_product, store_offers):
    for index in range(27):
        product = make_product(f"Item {index:02}", [(100, 1)], synced_ago=H)
        (offer,) = current_offers(product=product)
        store_offers(product, [(offer.offer_id, 90, 1)])
    html = user_client.get(URL, {"moved": "drops", "sort": "-name"}).content.decode()
    assert len(names_in(html)) == 25
    assert "?sort=-name&amp;moved=drops&amp;page=2" in html


@pytest.mark.parametrize(
    "params",
    [
        {"moved": "everything"},
        {"moved": "drops", "within": "1y"},
        {"moved": "\x00", "within": "\x00"},
        {"sort": "-rank", "moved": "", "within": "", "page": "x"},
    ],
)
def test_bad_market_params_fall_back_to_defaults(user_client, priced, params):
    response = user_client.get(URL, params)
    assert response.status_code == 200
    html = response.content.decode()
    if params.get("moved") != "drops":
        assert len(names_in(html)) == 4 and "Filtered by" not in html
    else:
        assert 'aria-current="true" class="active">24 h<' in html


def test_another_users_movements_are_not_counted(
    user_client, priced, make_product, store_offers, other_user
):
    theirs = make_product("Theirs", [(100, 1)], owner=other_user, synced_ago=H)
    (offer,) = current_offers(product=theirs)
    store_offers(theirs, [(offer.offer_id, 50, 1)])  # a drop, in their catalogue
    html = user_client.get(URL, {"moved": "drops"}).content.decode()
    assert names_in(html) == ["Drops"] and "Theirs" not in html
    drops = re.search(
        r'<span class="moved-count">(\d+)</span>\s*<span class="moved-label">Price drops', html
    )
    assert drops.group(1) == "1"


def test_bounded_queries_with_the_market_parts(
    user_client, make_product, make_sync_run, django_assert_max_num_queries
):
    for index in range(50):
        make_product(f"P{index:02}", [(100 + index, 2), (200, 1)], my_price=150, map_price=120)
    make_sync_run(finished_at=timezone.now())
    for params in ({"sort": "rank"}, {"sort": "-index", "moved": "appeared", "within": "30d"}):
        with django_assert_max_num_queries(15):
            response = user_client.get(URL, params)
        assert response.status_code == 200
    with django_assert_max_num_queries(15):
        user_client.get(URL, {"moved": "drops"}, headers={**HTMX, "HX-Target": "catalogue"})


def test_htmx_links_send_their_own_choice_and_the_page_url_holds_the_rest(user_client, priced):
    """A region swapped alone cannot know what the others changed since it was drawn: its
    links send only their choice, the rest comes from the page's URL (HX-Current-URL), and the
    answer says the page's new URL. A change of search, sort or filter starts at page 1."""
    page = "http://testserver/dashboard/?q=s&sort=-name&page=2"
    headers = {**HTMX, "HX-Current-URL": page, "HX-Target": "catalogue"}
    response = user_client.get(URL, {"moved": "drops", "within": "7d"}, headers=headers)
    assert response["HX-Push-Url"] == "/dashboard/?q=s&sort=-name&moved=drops&within=7d"
    assert names_in(response.content.decode()) == ["Drops"]
    filtered = "http://testserver" + response["HX-Push-Url"]
    headers = {**HTMX, "HX-Current-URL": filtered}
    response = user_client.get(URL, {"sort": "rank"}, headers=headers)
    assert response["HX-Push-Url"] == "/dashboard/?q=s&sort=rank&moved=drops&within=7d"
    response = user_client.get(URL, {"q": ""}, headers=headers)  # the search emptied
    assert response["HX-Push-Url"] == "/dashboard/?sort=-name&moved=drops&within=7d"
    # A refresh asks for nothing of its own: the same view, and no new history entry.
    response = user_client.get(URL, headers=headers)
    assert response["HX-Push-Url"] == "false" and names_in(response.content.decode()) == ["Drops"]
    # The links: a full href for pages without JavaScript, only the choice for htmx.
    html = response.content.decode()
    assert 'href="?q=s&amp;moved=drops&amp;within=7d" hx-get="?sort=name"' in html  # Name ↑


def test_a_plain_visit_loads_the_what_moved_panel_after_the_page(
    user_client, priced, django_assert_max_num_queries
):
    html = user_client.get(URL).content.decode()
    panel = html[html.index('id="what-moved"') : html.index('role="search"')]
    assert f'hx-get="{URL}?within=24h" hx-trigger="load"' in panel
    assert "moved-count" not in panel  # nothing summed for the page's own answer
    assert 'href="?within=7d"' in panel  # without JavaScript, a window's link draws it
    with django_assert_max_num_queries(6):
        loaded = user_client.get(
            URL, {"within": "24h"}, headers={**HTMX, "HX-Target": "what-moved"}
        )
    fragment = loaded.content.decode()
    assert fragment.lstrip().startswith('<section id="what-moved"') and "<html" not in fragment
    assert loaded["HX-Push-Url"] == "false"
    drops = re.search(
        r'<span class="moved-count">(\d+)</span>\s*<span class="moved-label">Price drops', fragment
    )
    assert drops.group(1) == "1"
    assert 'id="product-table"' not in fragment
