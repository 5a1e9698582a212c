"""Products through the API: list, create, read, replace, change, delete, and sync requests."""

import socket
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.tests.conftest import errors
from products.models import Product
from products.services import product_suspend

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("api:products")


def url(name: str, product) -> str:
    return reverse(f"api:{name}", kwargs={"product_id": product.pk})


def test_an_empty_list_has_the_paginated_shape(api):
    assert api.get(PRODUCTS).json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_list_shows_only_own_products_with_their_figures(api, make_product, other_user):
    make_product("Mine", [(100, 1), (300, 3)])
    make_product("Theirs", [(5, 1)], owner=other_user)
    body = api.get(PRODUCTS).json()
    assert body["count"] == 1
    (product,) = body["results"]
    assert product["name"] == "Mine"
    assert product["registration_state"] == "registered"
    assert product["sync"]["state"] == "synced"
    assert product["statistics"] | {"as_of": None} == {
        "offer_count": 2,
        "total_stock": 4,
        "min_price": 100,
        "max_price": 300,
        "mean_price": 200.0,
        "median_price": 200.0,
        "weighted_mean_price": 250.0,
        "as_of": None,
    }
    assert product["change_24h"] == 0.0
    assert product["currency"] == "CZK"


def test_undefined_figures_are_null_not_zero(api, make_product):
    make_product("New")
    (product,) = api.get(PRODUCTS).json()["results"]
    assert product["registration_state"] == "pending"
    assert product["sync"]["state"] == "registering"
    assert set(product["statistics"].values()) == {None}
    assert product["change_24h"] is None


def test_the_list_pages(api, make_product):
    for index in range(5):
        make_product(f"Product {index}")
    first = api.get(PRODUCTS, {"page_size": 2}).json()
    assert first["count"] == 5
    assert [p["name"] for p in first["results"]] == ["Product 0", "Product 1"]
    assert first["previous"] is None
    second = api.get(first["next"]).json()
    assert [p["name"] for p in second["results"]] == ["Product 2", "Product 3"]
    assert second["previous"] is not None
    response = api.get(PRODUCTS, {"page": 9})
    assert response.status_code == 404
    assert errors(response) == {None: "not_found"}


def test_the_list_costs_a_constant_number_of_queries(
    api, make_product, django_assert_max_num_queries
):
    for index in range(3):
        make_product(f"Product {index}", [(100 + index, 1)])
    # Token, count, page, statistics, changes (+ the throttle's cache, in the database on
    # SQLite, in Redis on CI's PostgreSQL run).
    with CaptureQueriesContext(connection) as few:
        api.get(PRODUCTS)
    for index in range(3, 20):
        make_product(f"Product {index}", [(100 + index, 1)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        api.get(PRODUCTS)


def test_search_finds_by_name_and_description(api, make_product):
    make_product("Espresso machine")
    make_product("Grinder", description="for espresso")
    make_product("Kettle")
    names = [p["name"] for p in api.get(PRODUCTS, {"search": "ESPRESSO"}).json()["results"]]
    assert names == ["Espresso machine", "Grinder"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("name", ["Apple", "Banana", "Cherry", "Unsynced"]),
        ("-name", ["Unsynced", "Cherry", "Banana", "Apple"]),
        ("mean", ["Banana", "Cherry", "Apple", "Unsynced"]),
        ("-mean", ["Apple", "Cherry", "Banana", "Unsynced"]),  # undefined last either way
        ("-created", ["Unsynced", "Cherry", "Banana", "Apple"]),
        ("change", ["Cherry", "Banana", "Apple", "Unsynced"]),
    ],
)
def test_ordering(api, make_product, store_offers, ordering, expected):
    from django.utils import timezone

    apple = make_product("Apple", [(300, 1)], synced_ago=timedelta(hours=2))
    store_offers(apple, [(330, 1)])  # +10 %
    make_product("Banana", [(100, 1)])  # 0 %
    cherry = make_product("Cherry", [(200, 1)], synced_ago=timedelta(hours=2))
    store_offers(cherry, [(180, 1)], at=timezone.now())  # −10 %
    make_product("Unsynced")
    response = api.get(PRODUCTS, {"ordering": ordering})
    assert [p["name"] for p in response.json()["results"]] == expected


def test_an_unknown_ordering_or_parameter_is_refused_by_name(api):
    assert errors(api.get(PRODUCTS, {"ordering": "price"})) == {"ordering": "invalid_choice"}
    assert errors(api.get(PRODUCTS, {"sort": "name"})) == {"sort": "unknown"}


def test_create_answers_201_with_the_product(api, user):
    response = api.post(PRODUCTS, {"name": "  Espresso machine "})
    assert response.status_code == 201
    product = Product.objects.get()
    assert (product.owner, product.name, product.description) == (user, "Espresso machine", "")
    assert response.json()["id"] == str(product.pk)
    assert response.json()["sync"]["state"] == "registering"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"name": "required"}),
        ({"name": "   "}, {"name": "blank"}),
        ({"name": 42}, {"name": "invalid"}),
        ({"name": ["a"]}, {"name": "invalid"}),
        ({"name": None}, {"name": "null"}),
        ({"name": "x" * 201}, {"name": "max_length"}),
        ({"name": "a\x00b"}, {"name": "null_characters_not_allowed"}),
        ({"name": "ok", "description": "x" * 2001}, {"description": "max_length"}),
        ({"name": "ok", "owner": 1}, {"owner": "unknown"}),
    ],
)
def test_bad_product_input_is_refused_by_field(api, body, expected):
    response = api.post(PRODUCTS, body)
    assert response.status_code == 400
    assert errors(response) == expected
    assert not Product.objects.exists()


def test_retrieve(api, make_product):
    product = make_product("Mine", [(100, 1)])
    body = api.get(url("product", product)).json()
    assert body["id"] == str(product.pk)
    assert body["statistics"]["mean_price"] == 100.0


def test_put_replaces_and_refuses_a_missing_field(api, make_product):
    product = make_product("Old", description="Old text", my_price=100, map_price=90)
    response = api.put(url("product", product), {"name": "New"})
    # The reference prices too: a replacement that forgot them must not clear them.
    assert errors(response) == {
        "description": "required",
        "my_price": "required",
        "map_price": "required",
    }
    body = {"name": "New", "description": "", "my_price": None, "map_price": 95}
    response = api.put(url("product", product), body)
    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.name, product.description) == ("New", "")
    assert (product.my_price, product.map_price) == (None, 95)


def test_patch_changes_only_what_it_names(api, make_product):
    product = make_product("Old", description="Kept")
    response = api.patch(url("product", product), {"name": "New"})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["description"]) == ("New", "Kept")


def test_an_answer_can_be_sent_back_with_changes(api, make_product):
    product = make_product("Old", [(100, 1)])
    body = api.get(url("product", product)).json() | {"name": "New"}
    response = api.put(url("product", product), body)
    assert response.status_code == 200
    assert response.json()["name"] == "New"


def test_renaming_does_not_register_the_product_again(
    api, make_product, django_capture_on_commit_callbacks
):
    from huey.contrib.djhuey import HUEY

    product = make_product("Old", [(100, 1)])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert api.patch(url("product", product), {"name": "New"}).status_code == 200
    assert callbacks == []  # nothing waits for the rename's commit
    assert HUEY.pending_count() == 0
    assert api.get(url("product", product)).json()["registration_state"] == "registered"


def test_delete_removes_the_product_with_its_offers_then_404(api, make_product):
    product = make_product("Mine", [(100, 1)])
    assert api.delete(url("product", product)).status_code == 204
    assert not Product.objects.exists()
    assert api.get(url("product-offers", product)).status_code == 404
    response = api.delete(url("product", product))
    assert response.status_code == 404
    assert errors(response) == {None: "not_found"}


def test_a_suspended_product_is_read_only(api, make_product):
    product = make_product("Mine", [(100, 1)])
    product_suspend(product=product, reason="Counterfeit listing")
    assert api.get(url("product", product)).json()["suspended"] is True
    for response in (
        api.put(url("product", product), {"name": "New", "description": ""}),
        api.patch(url("product", product), {"name": "New"}),
        api.delete(url("product", product)),
        api.post(url("product-sync", product)),
        api.post(url("product-register", product)),
    ):
        assert response.status_code == 409
        assert errors(response) == {None: "conflict"}
        assert "Counterfeit listing" in response.json()["errors"][0]["detail"]
    product.refresh_from_db()
    assert product.name == "Mine"


def test_offers_are_the_current_ones_cheapest_first(api, make_product, store_offers):
    product = make_product("Mine", [(300, 1), (100, 2)])
    body = api.get(url("product-offers", product)).json()
    assert body["count"] == 2
    assert [(o["price"], o["items_in_stock"]) for o in body["results"]] == [(100, 2), (300, 1)]
    assert set(body["results"][0]) == {
        "id",
        "price",
        "items_in_stock",
        "first_seen_at",
        "last_seen_at",
        "previous_price",
        "change",
    }


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_offers_are_read_only(api, make_product, method):
    product = make_product("Mine", [(100, 1)])
    response = getattr(api, method)(url("product-offers", product))
    assert response.status_code == 405


def test_sync_now_is_queued_then_rate_limited(api, make_product, settings):
    settings.SYNC_NOW_COOLDOWN = 30
    product = make_product("Mine", [(100, 1)])
    response = api.post(url("product-sync", product))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    response = api.post(url("product-sync", product))
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert errors(response) == {None: "throttled"}


def test_sync_now_of_an_unregistered_product_is_a_conflict(api, make_product):
    response = api.post(url("product-sync", make_product("New")))
    assert response.status_code == 409
    assert errors(response) == {None: "not_registered"}


def test_register_again_after_a_failed_registration(api, make_product, set_tracking, settings):
    settings.SYNC_NOW_COOLDOWN = 30
    product = make_product("Mine")
    set_tracking(product, registration_state="failed", registration_error="422: bad name")
    sync = api.get(url("product", product)).json()["sync"]
    assert sync["state"] == "registration_failed"
    assert "refused to register" in sync["message"] and "422" not in sync["message"]

    response = api.post(url("product-register", product))

    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert api.get(url("product", product)).json()["sync"]["state"] == "registering"
    response = api.post(url("product-register", product))
    assert response.status_code == 429 and response["Retry-After"] == "30"


def test_register_again_of_a_registered_product_is_a_conflict(api, make_product):
    response = api.post(url("product-register", make_product("Mine", [(1, 1)])))
    assert response.status_code == 409
    assert errors(response) == {None: "already_registered"}


def test_no_request_waits_for_the_offers_service(
    api, make_product, settings, django_capture_on_commit_callbacks
):
    """Creating and syncing only queue work: the service (here a socket that counts the
    connections made to it) is not called while the client waits."""
    from huey.contrib.djhuey import HUEY

    with socket.create_server(("127.0.0.1", 0)) as service:
        service.setblocking(False)
        settings.OFFERS_BASE_URL = f"http://127.0.0.1:{service.getsockname()[1]}/api/v1"
        with django_capture_on_commit_callbacks(execute=True):  # as if committed
            created = api.post(PRODUCTS, {"name": "New"})
        product = make_product("Mine", [(100, 1)])
        responses = [
            created,
            api.post(url("product-sync", product)),
            api.get(PRODUCTS),
            api.get(url("product-offers", product)),
            api.get(url("product-history", product)),
        ]
        assert [r.status_code for r in responses] == [201, 202, 200, 200, 200]
        with pytest.raises(BlockingIOError):
            service.accept()  # nobody connected
    assert HUEY.pending_count() == 2  # the registration and the sync wait for a worker


def test_the_input_serializers_know_every_field_of_the_answer():
    from api.serializers import ProductCreateSerializer, ProductSerializer

    writable = set(ProductCreateSerializer().fields)
    assert ProductCreateSerializer.answer_fields | writable == set(ProductSerializer().fields)
