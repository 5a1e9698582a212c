"""POST /api/v1/products/register."""

from __future__ import annotations

import uuid

import pytest

from offers_simulator.tests.helpers import get_offers, register


def test_register_answers_201_with_the_id(http, simulator, token):
    product_id = str(uuid.uuid4())
    response = register(http, simulator, token, product_id)
    assert response.status_code == 201
    assert response.json() == {"id": product_id}
    assert get_offers(http, simulator, token, product_id).status_code == 200


def test_registering_twice_is_409(http, simulator, token, product_id):
    response = register(http, simulator, token, product_id)
    assert response.status_code == 409
    assert response.json() == {"detail": "Product ID already registered"}


def test_upper_case_id_is_the_same_product(http, simulator, token, product_id):
    assert register(http, simulator, token, product_id.upper()).status_code == 409
    assert get_offers(http, simulator, token, product_id.upper()).status_code == 200


@pytest.mark.parametrize("bearer", [None, "", "not-a-token"])
def test_missing_or_invalid_access_token_is_401(http, simulator, bearer):
    response = register(http, simulator, bearer, str(uuid.uuid4()))
    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_refresh_token_is_not_an_access_token(http, simulator):
    response = register(http, simulator, simulator.refresh_token, str(uuid.uuid4()))
    assert response.status_code == 401


def test_access_token_is_checked_before_the_body(http, simulator):
    response = http.post(f"{simulator.base_url}/products/register", data=b"not json")
    assert response.status_code == 401


def _post(http, simulator, token, **kwargs):
    return http.post(f"{simulator.base_url}/products/register", headers={"Bearer": token}, **kwargs)


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        (b"", ["body"], "value_error.missing"),
        (b"{not json", ["body", 1], "value_error.jsondecode"),
        (b"\xff\xfe\x00", ["body"], "value_error.jsondecode"),
        (b"[" * 100_000, ["body"], "value_error.jsondecode"),
        (b"[1, 2]", ["body"], "type_error.dict"),
        (b'"a string"', ["body"], "type_error.dict"),
    ],
)
def test_unusable_body_is_422(http, simulator, token, body, loc, kind):
    response = _post(http, simulator, token, data=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"][: len(loc)], error["type"]) == (loc, kind)
    assert isinstance(error["msg"], str)


@pytest.mark.parametrize(
    ("overrides", "field", "kind"),
    [
        ({"id": "not-a-uuid"}, "id", "type_error.uuid"),
        ({"id": "{" + "0" * 32 + "}"}, "id", "type_error.uuid"),
        ({"id": 12}, "id", "type_error.uuid"),
        ({"id": None}, "id", "type_error.none.not_allowed"),
        ({"name": 12}, "name", "type_error.str"),
        ({"name": None}, "name", "type_error.none.not_allowed"),
        ({"description": ["a"]}, "description", "type_error.str"),
    ],
)
def test_bad_field_is_422(http, simulator, token, overrides, field, kind):
    body = {"id": str(uuid.uuid4()), "name": "n", "description": "d", **overrides}
    response = _post(http, simulator, token, json=body)
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", field], "msg": response.json()["detail"][0]["msg"], "type": kind}
        ]
    }


def test_every_missing_field_is_reported(http, simulator, token):
    response = _post(http, simulator, token, json={"name": "only a name"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "id"], "msg": "field required", "type": "value_error.missing"},
            {
                "loc": ["body", "description"],
                "msg": "field required",
                "type": "value_error.missing",
            },
        ]
    }


def test_a_rejected_registration_registers_nothing(http, simulator, token):
    product_id = str(uuid.uuid4())
    assert _post(http, simulator, token, json={"id": product_id}).status_code == 422
    assert get_offers(http, simulator, token, product_id).status_code == 404


def test_extra_fields_are_ignored(http, simulator, token):
    response = register(http, simulator, token, str(uuid.uuid4()), price=3)
    assert response.status_code == 201


def test_chunked_body_is_read(http, simulator, token):
    product_id = str(uuid.uuid4())
    body = f'{{"id": "{product_id}", "name": "n", "description": "d"}}'.encode()
    chunks = iter([body[:10], body[10:]])  # a generator body makes requests send it chunked
    response = _post(http, simulator, token, data=chunks)
    assert response.status_code == 201


def test_register_takes_only_post(http, simulator, token):
    response = http.get(f"{simulator.base_url}/products/register", headers={"Bearer": token})
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
