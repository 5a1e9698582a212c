"""The overview: full page versus partial, search, sort, paging, statistics, escaping."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard.tests.conftest import HTMX
from pricing.selectors import current_offers

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
