"""GET /api/v1/products/{id}/offers, and answers to paths the service does not have."""

from __future__ import annotations

import uuid

import pytest

from offers_simulator.tests.helpers import get_offers, is_offer_list, register


def test_offers_of_a_registered_product_are_200(http, simulator, token, product_id):
    response = get_offers(http, simulator, token, product_id)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    offers = response.json()
    assert is_offer_list(offers)
    assert len(offers) <= 10
    assert all(offer["price"] >= 1 and offer["items_in_stock"] >= 1 for offer in offers)


def test_most_products_have_offers_at_once(http, simulator, token):
    counts = []
    for _ in range(20):
        product_id = str(uuid.uuid4())
        assert register(http, simulator, token, product_id).status_code == 201
        counts.append(len(get_offers(http, simulator, token, product_id).json()))
    assert sum(count > 0 for count in counts) >= 12


def test_offers_stay_put_within_a_tick(http, simulator, token, product_id):
    first = get_offers(http, simulator, token, product_id).json()
    assert get_offers(http, simulator, token, product_id).json() == first


@pytest.mark.parametrize("bearer", [None, "", "not-a-token"])
def test_missing_or_invalid_access_token_is_401(http, simulator, product_id, bearer):
    response = get_offers(http, simulator, bearer, product_id)
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_unregistered_product_is_404(http, simulator, token):
    response = get_offers(http, simulator, token, str(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json() == {"detail": "Product ID has not been registered"}


@pytest.mark.parametrize("raw_id", ["42", "not-a-uuid", "0" * 32, "%7B" + "0" * 32 + "%7D"])
def test_malformed_id_is_422(http, simulator, token, raw_id):
    response = get_offers(http, simulator, token, raw_id)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["path", "product_id"],
                "msg": "value is not a valid uuid",
                "type": "type_error.uuid",
            }
        ]
    }


def test_access_token_is_checked_before_the_id(http, simulator):
    assert get_offers(http, simulator, None, "not-a-uuid").status_code == 401


def test_forget_registrations_gives_404_until_registered_again(http, simulator, token, product_id):
    simulator.forget_registrations()
    assert simulator.state()["registered"] == 0
    assert get_offers(http, simulator, token, product_id).status_code == 404
    assert register(http, simulator, token, product_id).status_code == 201
    assert get_offers(http, simulator, token, product_id).status_code == 200


def test_offers_take_only_get(http, simulator, token, product_id):
    url = f"{simulator.base_url}/products/{product_id}/offers"
    response = http.post(url, headers={"Bearer": token})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    head = http.head(url, headers={"Bearer": token})
    assert head.status_code == 405
    assert head.content == b""
    # The connection is still in step after a body-less HEAD answer.
    assert get_offers(http, simulator, token, product_id).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/v1",
        "/api/v2/auth",
        "/api/v1/products",
        "/api/v1/products//offers",
        "/api/v1/products/a/b/offers",
    ],
)
def test_unknown_paths_are_404(http, simulator, path):
    for method in ("GET", "POST", "DELETE"):
        response = http.request(method, simulator.root_url + path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
