"""Market position through the API: reference prices on products, each product's position in
the list and detail, MAP violations (a product's and the catalogue's), a product's price memory,
and what moved in the catalogue with the product lists it links to.

Histories are stored as the sync stores them (pricing.services.offers_store, through the
store_offers fixture); the answers must be the selectors' figures for the same period.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api.serializers import MapViolationSerializer, MemorySerializer, PricePositionSerializer
from api.tests.conftest import errors
from pricing.selectors import (
    MemoryWindow,
    Movement,
    catalogue_movements,
    map_violations,
    price_memory,
    price_position,
    products_moved,
)
from products.models import Product

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("api:products")
MAP_VIOLATIONS = reverse("api:map-violations")
MOVEMENTS = reverse("api:movements")
H = timedelta(hours=1)
A, B, C, D = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
# A fixed past for histories read over an explicit [from, to): the same figures on every run.
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def url(name: str, product) -> str:
    return reverse(f"api:{name}", kwargs={"product_id": product.pk})


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- Reference prices --------------------------------------------------------------------------


def test_create_with_reference_prices_and_read_them_back(api):
    response = api.post(PRODUCTS, {"name": "Grinder", "my_price": 1290, "map_price": 1199})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["my_price"], body["map_price"]) == (1290, 1199)
    product = Product.objects.get()
    assert (product.my_price, product.map_price) == (1290, 1199)
    assert api.get(url("product", product)).json()["my_price"] == 1290


def test_reference_prices_are_optional_and_null_by_default(api):
    body = api.post(PRODUCTS, {"name": "Grinder", "map_price": None}).json()
    assert (body["my_price"], body["map_price"]) == (None, None)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("12", "invalid"),
        (1.5, "invalid"),
        (12.0, "invalid"),
        (True, "invalid"),
        ([12], "invalid"),
        ({"amount": 12}, "invalid"),
        (0, "min_value"),
        (-5, "min_value"),
        (10**12 + 1, "max_value"),
    ],
)
@pytest.mark.parametrize("field", ["my_price", "map_price"])
def test_a_reference_price_is_a_whole_number_from_1(api, make_product, field, value, code):
    response = api.post(PRODUCTS, {"name": "Grinder", field: value})
    assert response.status_code == 400
    assert errors(response) == {field: code}
    assert not Product.objects.exists()
    product = make_product("Kept", my_price=100, map_price=90)
    response = api.patch(url("product", product), {field: value})
    assert errors(response) == {field: code}
    product.refresh_from_db()
    assert (product.my_price, product.map_price) == (100, 90)


def test_the_largest_reference_price_is_taken(api):
    response = api.post(PRODUCTS, {"name": "Yacht", "my_price": 10**12, "map_price": 10**12})
    assert response.status_code == 201
    assert response.json()["my_price"] == 10**12


def test_patch_sets_clears_and_keeps_reference_prices(api, make_product):
    product = make_product("Grinder", my_price=100, map_price=90)
    body = api.patch(url("product", product), {"name": "Mill"}).json()
    assert (body["name"], body["my_price"], body["map_price"]) == ("Mill", 100, 90)
    body = api.patch(url("product", product), {"map_price": None, "my_price": 120}).json()
    assert (body["my_price"], body["map_price"]) == (120, None)
    product.refresh_from_db()
    assert (product.name, product.my_price, product.map_price) == ("Mill", 120, None)


def test_an_answer_with_prices_and_position_can_be_sent_back(api, make_product):
    product = make_product("Grinder", [(900, 1)], my_price=1000, map_price=950)
    body = api.get(url("product", product)).json() | {"my_price": 980}
    response = api.put(url("product", product), body)
    assert response.status_code == 200, response.json()
    assert (response.json()["my_price"], response.json()["map_price"]) == (980, 950)


# --- Position ----------------------------------------------------------------------------------


def test_the_position_is_the_selectors_in_list_and_detail(api, make_product):
    product = make_product(
        "Grinder", [(900, 1), (1000, 2), (1100, 1)], my_price=1000, map_price=950
    )
    expected = PricePositionSerializer(price_position(product=product)).data
    (listed,) = api.get(PRODUCTS).json()["results"]
    detail = api.get(url("product", product)).json()
    assert listed["position"] == detail["position"] == expected
    # By hand: one offer cheaper (900), one at my price, one dearer; mean 1000.
    assert {k: v for k, v in detail["position"].items() if k != "as_of"} == {
        "offer_count": 3,
        "rank": 2,
        "rank_of": 4,
        "tied_count": 1,
        "index_to_mean": 100.0,
        "index_to_min": 111.11,
        "undercut_count": 1,
        "undercut_max": 100,
        "undercut_mean": 100.0,
        "below_map_count": 1,
    }
    assert detail["position"]["as_of"] == detail["statistics"]["as_of"]


def test_without_my_price_or_offers_the_position_is_null_not_zero(api, make_product):
    make_product("Never synced", my_price=100)
    make_product("Unpriced", [(100, 1)])
    body = api.get(PRODUCTS).json()["results"]
    never, unpriced = (product["position"] for product in body)
    assert set(never.values()) == {None}
    assert unpriced["offer_count"] == 1
    assert {unpriced[k] for k in ("rank", "index_to_min", "undercut_count")} == {None}


def test_the_list_with_positions_costs_a_constant_number_of_queries(
    api, make_product, django_assert_max_num_queries
):
    for index in range(3):
        make_product(f"Product {index}", [(100 + index, 1), (90, 2)], my_price=95, map_price=92)
    with CaptureQueriesContext(connection) as few:
        api.get(PRODUCTS, {"ordering": "rank"})
    for index in range(3, 20):
        make_product(f"Product {index}", [(100 + index, 1), (90, 2)], my_price=95, map_price=92)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = api.get(PRODUCTS, {"ordering": "rank"}).json()
    assert body["count"] == 20 and {p["position"]["rank"] for p in body["results"]} == {2}


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("my-price", ["Banana", "Apple", "Cherry", "Unpriced"]),
        ("-my-price", ["Cherry", "Apple", "Banana", "Unpriced"]),
        ("rank", ["Banana", "Cherry", "Apple", "Unpriced"]),  # a tie is broken by name
        ("-rank", ["Apple", "Banana", "Cherry", "Unpriced"]),
        ("index", ["Banana", "Cherry", "Apple", "Unpriced"]),
        ("-index", ["Apple", "Cherry", "Banana", "Unpriced"]),  # undefined last either way
    ],
)
def test_ordering_by_position(api, make_product, ordering, expected):
    make_product("Apple", [(900, 1), (1100, 1)], my_price=1000)  # rank 2, index 111.11
    make_product("Banana", [(900, 1)], my_price=800)  # rank 1, index 88.89
    make_product("Cherry", [(1300, 1)], my_price=1200)  # rank 1, index 92.31
    make_product("Unpriced", [(500, 1)])
    response = api.get(PRODUCTS, {"ordering": ordering})
    assert [p["name"] for p in response.json()["results"]] == expected


# --- MAP violations ----------------------------------------------------------------------------


def store_history(store_offers, product, base: datetime) -> None:
    """Five syncs an hour apart from `base`, against a MAP of 1000: A dips to 950 for an hour;
    B falls to 900 at base+2h and stays below (980 from base+3h); C appears at 800 at base+3h
    and vanishes at base+4h. The cheapest offer: 1100, 950, 900, 800, 980; four price changes
    (A: 1100 → 950 → 1020, B: 1200 → 900 → 980)."""
    for hour, offers in enumerate(
        [
            [(A, 1100, 1), (B, 1200, 1)],
            [(A, 950, 1), (B, 1200, 1)],
            [(A, 1020, 1), (B, 900, 1)],
            [(A, 1020, 1), (B, 980, 1), (C, 800, 1)],
            [(A, 1020, 1), (B, 980, 1)],
        ]
    ):
        store_offers(product, offers, at=base + hour * H)


@pytest.fixture
def watched(make_product, store_offers):
    """A product with a MAP of 1000 and store_history from T0."""
    product = make_product("Grinder", my_price=1050, map_price=1000)
    store_history(store_offers, product, T0)
    return product


@pytest.fixture
def recent(make_product, store_offers):
    """The same history, from five hours ago (its last sync an hour ago)."""
    product = make_product("Grinder", my_price=1050, map_price=1000)
    store_history(store_offers, product, timezone.now() - 5 * H)
    return product


def by_offer(body) -> dict[str, dict]:
    return {violation["offer"]: violation for violation in body["results"]}


def test_a_products_violations_over_a_period_are_the_selectors(api, user, watched):
    start, end = T0, T0 + 4.5 * H
    body = api.get(url("product-map-violations", watched), {"from": iso(start), "to": iso(end)})
    expected = map_violations(owner=user, start=start, end=end, product_id=watched.pk)
    assert body.json()["results"] == MapViolationSerializer(expected, many=True).data
    assert body.json()["count"] == 3
    # By hand: B below for 2.5 h (longest first), then C and A an hour each, C lower.
    assert [v["offer"] for v in body.json()["results"]] == [str(B), str(C), str(A)]
    b, c, a = (by_offer(body.json())[str(offer)] for offer in (B, C, A))
    assert (a["seconds_below"], a["minutes_below"], a["lowest_price"]) == (3600, 60, 950)
    assert (a["undercut_percent"], a["is_below_now"], a["current_price"]) == (5.0, False, 1020)
    assert (a["below_from"], a["below_until"]) == (iso(T0 + H), iso(T0 + 2 * H))
    assert (b["minutes_below"], b["lowest_price"], b["undercut_percent"]) == (150, 900, 10.0)
    assert (b["below_until"], b["is_below_now"], b["current_price"]) == (iso(end), True, 980)
    assert (c["minutes_below"], c["lowest_price"], c["current_price"]) == (60, 800, None)
    assert c["below_until"] == iso(T0 + 4 * H)
    assert (a["product"], a["product_name"], a["map_price"]) == (
        str(watched.pk),
        "Grinder",
        1000,
    )


@pytest.mark.parametrize("params", [{}, {"period": "24h"}, {"period": "7d"}, {"period": "30d"}])
def test_a_period_ending_now_counts_until_now(api, recent, params):
    before = timezone.now()
    body = api.get(url("product-map-violations", recent), params).json()
    after = timezone.now()
    assert [v["offer"] for v in body["results"]] == [str(B), str(C), str(A)]
    b, c, a = (by_offer(body)[str(offer)] for offer in (B, C, A))
    assert (a["seconds_below"], c["seconds_below"]) == (3600, 3600)
    below_since = datetime.fromisoformat(b["below_from"])
    assert before <= datetime.fromisoformat(b["below_until"]) <= after
    assert (before - below_since).total_seconds() <= b["seconds_below"]
    assert b["seconds_below"] <= (after - below_since).total_seconds()
    assert b["is_below_now"] is True


def test_a_to_after_now_counts_up_to_now(api, watched):
    future = timezone.now() + timedelta(days=30)
    body = api.get(
        url("product-map-violations", watched), {"from": iso(T0), "to": iso(future)}
    ).json()
    assert datetime.fromisoformat(by_offer(body)[str(B)]["below_until"]) <= timezone.now()


def test_the_catalogue_lists_every_product_with_a_map_and_only_the_users(
    api, other_api, user, other_user, watched, make_product, store_offers
):
    second = make_product("Kettle", map_price=500)
    store_offers(second, [(uuid.UUID(int=9), 400, 1)], at=T0 + 3 * H)
    no_map = make_product("Mill")
    store_offers(no_map, [(100, 1)], at=T0 + H)
    theirs = make_product("Theirs", owner=other_user, map_price=10_000)
    store_offers(theirs, [(100, 1)], at=T0 + H)
    start, end = T0, T0 + 4.5 * H
    body = api.get(MAP_VIOLATIONS, {"from": iso(start), "to": iso(end)}).json()
    expected = map_violations(owner=user, start=start, end=end)
    assert body["results"] == MapViolationSerializer(expected, many=True).data
    assert {v["product_name"] for v in body["results"]} == {"Grinder", "Kettle"}
    assert body["count"] == 4
    page = api.get(MAP_VIOLATIONS, {"from": iso(start), "to": iso(end), "page_size": 3}).json()
    assert len(page["results"]) == 3 and page["next"] is not None
    # The other user sees their own, not the user's.
    other = other_api.get(MAP_VIOLATIONS, {"from": iso(start), "to": iso(end)}).json()
    assert {v["product_name"] for v in other["results"]} == {"Theirs"}


@pytest.mark.parametrize("path", ["product", "catalogue"])
@pytest.mark.parametrize(
    ("params", "attr", "code"),
    [
        ({"period": "1h"}, "period", "invalid_choice"),
        ({"period": "7d", "from": "2026-03-01T00:00:00Z"}, "period", "invalid"),
        ({"period": "24h", "to": "2026-03-01T00:00:00Z"}, "period", "invalid"),
        ({"from": "yesterday"}, "from", "invalid"),
        ({"from": "2026-03-01T00:00:00"}, "from", "naive"),
        ({"from": "0001-01-01T00:00:00Z"}, "from", "out_of_range"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to", "invalid"),
        ({"from": "8999-01-01T00:00:00Z"}, "from", "invalid"),  # after now
        ({"window": "7d"}, "window", "unknown"),
        ({"page_size": "0"}, "page_size", "min_value"),
    ],
)
def test_a_bad_violations_parameter_is_a_400_naming_it(api, watched, path, params, attr, code):
    target = url("product-map-violations", watched) if path == "product" else MAP_VIOLATIONS
    response = api.get(target, params)
    assert response.status_code == 400, response.json()
    assert errors(response) == {attr: code}


# --- Memory ------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [w.value for w in MemoryWindow])
def test_the_memory_is_the_selectors_for_the_window(api, make_product, store_offers, window):
    base = timezone.now() - 5 * H
    product = make_product("Grinder")
    store_history(store_offers, product, base)
    body = api.get(url("product-memory", product), {"window": window}).json()
    end = datetime.fromisoformat(body["end"])
    memory = price_memory(product=product, window=MemoryWindow(window), now=end)
    data = {"product_id": product.pk, "memory": memory, "currency": "CZK"}
    assert body == MemorySerializer(data).data
    assert body["window"] == window
    # From the UTC hour that holds now − window (the roll-ups' grain).
    start = datetime.fromisoformat(body["start"])
    assert start.minute == start.second == start.microsecond == 0
    assert end - MemoryWindow(window).length - H < start <= end - MemoryWindow(window).length
    # By hand.
    assert (body["current_cheapest"], body["price_changes"]) == (980, 4)
    assert body["lowest"] == {"price": 800, "on": str((base + 3 * H).astimezone(UTC).date())}
    assert body["highest"] == {"price": 1100, "on": str(base.astimezone(UTC).date())}
    assert (body["lowest_ever"], body["highest_ever"]) == (body["lowest"], body["highest"])
    assert datetime.fromisoformat(body["history_since"]) == base


def test_the_default_window_is_30_days(api, recent):
    assert api.get(url("product-memory", recent)).json()["window"] == "30d"


def test_a_product_without_history_remembers_nothing(api, make_product):
    body = api.get(url("product-memory", make_product("New"))).json()
    assert body["price_changes"] == 0
    assert body["is_lowest_ever"] is False and body["is_lowest_in_90_days"] is False
    figures = set(body) - {"product", "window", "start", "end", "currency"}
    figures -= {"price_changes", "is_lowest_ever", "is_lowest_in_90_days"}
    assert {body[name] for name in figures} == {None}


@pytest.mark.parametrize(
    ("params", "attr", "code"),
    [
        ({"window": "2y"}, "window", "invalid_choice"),
        ({"window": ""}, "window", "invalid_choice"),
        ({"period": "7d"}, "period", "unknown"),
    ],
)
def test_a_bad_memory_parameter_is_a_400_naming_it(api, recent, params, attr, code):
    response = api.get(url("product-memory", recent), params)
    assert response.status_code == 400
    assert errors(response) == {attr: code}


# --- Movements ---------------------------------------------------------------------------------


def test_movements_are_the_selectors_and_link_to_the_products_that_moved(
    api, user, other_user, recent, make_product, store_offers
):
    quiet = make_product("Quiet", [(D, 500, 1)], synced_ago=3 * H)
    store_offers(quiet, [(D, 600, 0)], at=timezone.now() - 2 * H)  # rose and sold out
    theirs = make_product("Theirs", [(D, 100, 1)], owner=other_user, synced_ago=3 * H)
    store_offers(theirs, [(D, 50, 1)], at=timezone.now() - 2 * H)

    body = api.get(MOVEMENTS).json()
    assert body["period"] == "24h"
    end = datetime.fromisoformat(body["end"])
    expected = catalogue_movements(owner=user, start=end - timedelta(hours=24), end=end)
    assert datetime.fromisoformat(body["start"]) == expected.start
    assert [m["movement"] for m in body["movements"]] == [m.value for m in Movement]
    assert [(m["events"], m["products"]) for m in body["movements"]] == [
        (count.events, count.products) for count in expected.counts
    ]
    counts = {m["movement"]: m for m in body["movements"]}
    # By hand: Grinder's two drops; its two rises and Quiet's; Quiet's offer sold out and C
    # vanished with its stock (sold out too); C appeared. The other user's drop is theirs.
    assert (counts["drops"]["events"], counts["drops"]["products"]) == (2, 1)
    assert (counts["rises"]["events"], counts["rises"]["products"]) == (3, 2)
    assert (counts["sold-out"]["events"], counts["sold-out"]["products"]) == (2, 2)
    assert (counts["appeared"]["events"], counts["vanished"]["events"]) == (1, 1)
    assert counts["drops"]["label"] == "Price drops"

    for movement in Movement:
        link = counts[movement.value]["products_url"]
        assert link == f"http://testserver{PRODUCTS}?moved={movement.value}&within=24h"
        listed = [p["name"] for p in api.get(link).json()["results"]]
        now = timezone.now()
        moved = products_moved(
            Product.objects.for_owner(user), movement=movement, start=now - 24 * H, end=now
        )
        assert listed == sorted(product.name for product in moved), movement
        assert len(listed) == counts[movement.value]["products"], movement
    names = [p["name"] for p in api.get(PRODUCTS, {"moved": "rises"}).json()["results"]]
    assert names == ["Grinder", "Quiet"]  # within 24h by default


@pytest.mark.parametrize("period", ["24h", "7d", "30d"])
def test_movements_over_each_period(api, recent, period):
    body = api.get(MOVEMENTS, {"period": period}).json()
    assert body["period"] == period
    assert all(f"within={period}" in m["products_url"] for m in body["movements"])
    drops = api.get(PRODUCTS, {"moved": "drops", "within": period}).json()
    assert [p["name"] for p in drops["results"]] == ["Grinder"]


@pytest.mark.parametrize(
    ("target", "params", "attr", "code"),
    [
        (MOVEMENTS, {"period": "90d"}, "period", "invalid_choice"),
        (MOVEMENTS, {"within": "24h"}, "within", "unknown"),
        (PRODUCTS, {"moved": "sideways"}, "moved", "invalid_choice"),
        (PRODUCTS, {"within": "7d"}, "within", "unexpected"),
        (PRODUCTS, {"moved": "drops", "within": "1y"}, "within", "invalid_choice"),
    ],
)
def test_a_bad_movements_parameter_is_a_400_naming_it(api, target, params, attr, code):
    response = api.get(target, params)
    assert response.status_code == 400
    assert errors(response) == {attr: code}


# --- Isolation and the schema -------------------------------------------------------------------


# A product's map-violations and memory are in test_isolation's matrix.


@pytest.mark.parametrize("path", [MAP_VIOLATIONS, MOVEMENTS])
def test_anonymous_requests_get_401(anon, path):
    assert anon.get(path).status_code == 401


def test_movements_never_count_another_users_products(api, other_user, make_product, store_offers):
    theirs = make_product("Theirs", [(D, 100, 1)], owner=other_user, synced_ago=3 * H)
    store_offers(theirs, [(D, 50, 0)], at=timezone.now() - 2 * H)
    body = api.get(MOVEMENTS).json()
    assert {(m["events"], m["products"]) for m in body["movements"]} == {(0, 0)}
    assert api.get(PRODUCTS, {"moved": "drops"}).json()["count"] == 0


def test_the_schema_documents_the_market_operations(api):
    from drf_spectacular.validation import validate_schema

    schema = api.get(reverse("api:schema"), {"format": "json"}).json()
    validate_schema(schema)
    paths = schema["paths"]

    def parameters(path: str) -> dict[str, dict]:
        return {p["name"]: p["schema"] for p in paths[f"/api/v1/{path}"]["get"]["parameters"]}

    assert parameters("map-violations/")["period"]["enum"] == ["24h", "7d", "30d"]
    assert {"from", "to", "page", "page_size"} <= set(parameters("map-violations/"))
    assert set(parameters("products/{product_id}/map-violations/")) >= {"period", "from", "to"}
    assert parameters("movements/")["period"]["enum"] == ["24h", "7d", "30d"]
    assert parameters("products/")["moved"]["enum"] == [m.value for m in Movement]
    assert "my-price" in parameters("products/")["ordering"]["enum"]
    components = schema["components"]["schemas"]
    assert components["MemoryWindow"]["enum"] == [w.value for w in MemoryWindow]
    assert {"my_price", "map_price", "position"} <= set(components["Product"]["properties"])
    assert set(components["ProductReplaceRequest"]["required"]) >= {"my_price", "map_price"}
