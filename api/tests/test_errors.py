"""Bad requests of every kind get a 4xx in the one error shape, never a 500."""

import pytest
from django.urls import reverse

from api.tests.conftest import errors
from products.models import Product

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("api:products")


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"", b"\xff\xfe", b'{"name": NaN}', b'{"name": "a"', b"\x00"],
)
def test_malformed_json_is_a_400(api, body):
    response = api.generic("POST", PRODUCTS, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert set(errors(response).values()) <= {"parse_error", "required"}


@pytest.mark.parametrize("body", ["[]", '"name"', "42", "null"])
def test_json_that_is_not_an_object_is_a_400(api, body):
    response = api.generic("POST", PRODUCTS, body, content_type="application/json")
    assert response.status_code == 400


def test_a_form_body_is_refused_as_unsupported(api):
    response = api.post(PRODUCTS, "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert errors(response) == {None: "unsupported_media_type"}


def test_an_oversized_body_is_a_413_and_nothing_is_stored(api, settings):
    settings.API_MAX_BODY_BYTES = 1024
    response = api.post(PRODUCTS, {"name": "x", "description": "y" * 2000})
    assert response.status_code == 413
    assert errors(response) == {None: "body_too_large"}
    assert not Product.objects.exists()


def test_a_nul_byte_in_the_query_string_is_a_400(api):
    response = api.get(PRODUCTS + "?search=a%00b")
    assert response.status_code == 400
    response = api.get(PRODUCTS + "?a%00=b")
    assert response.status_code == 400


def test_unknown_paths_under_the_api_answer_json_404(api, anon):
    for client in (api, anon):
        response = client.get("/api/v1/nothing/here/")
        assert response.status_code == 404
        assert errors(response) == {None: "not_found"}


def test_an_error_inside_a_view_is_a_json_500_without_details(api, monkeypatch):
    """The safety net: a bug still answers in the error shape and leaks nothing."""
    from api import views

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "product_stats_many", broken)
    api.raise_request_exception = False
    response = api.get(PRODUCTS)
    assert response.status_code == 500
    assert "secret" not in response.content.decode()
    assert errors(response) == {None: "error"}
