"""No user reaches another user's product: 404 for every method and sub-resource, never 403,
and nothing changes."""

import pytest
from django.urls import reverse

from api.tests.conftest import errors
from products.models import Product

pytestmark = pytest.mark.django_db

BODY = {"name": "Taken over", "description": ""}
MATRIX = [
    ("product", "get"),
    ("product", "put"),
    ("product", "patch"),
    ("product", "delete"),
    ("product-offers", "get"),
    ("product-history", "get"),
    ("product-sync", "post"),
    ("product-register", "post"),
    ("product-map-violations", "get"),
    ("product-memory", "get"),
]


@pytest.mark.parametrize(("name", "method"), MATRIX)
def test_another_users_product_is_404(api, make_product, other_user, name, method):
    theirs = make_product("Theirs", [(100, 1)], owner=other_user)
    path = reverse(f"api:{name}", kwargs={"product_id": theirs.pk})
    response = getattr(api, method)(path, BODY)
    assert response.status_code == 404
    assert errors(response) == {None: "not_found"}
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


@pytest.mark.parametrize(("name", "method"), MATRIX)
def test_an_unknown_or_malformed_id_is_404(api, name, method):
    for product_id in ("0b8e4a57-8c32-4bb4-9d61-4a4c2d6b6a3e", "not-a-uuid", "1"):
        path = reverse(f"api:{name}", kwargs={"product_id": product_id})
        response = getattr(api, method)(path, BODY)
        assert response.status_code == 404, (product_id, response.json())
        assert errors(response) == {None: "not_found"}


@pytest.mark.parametrize(("name", "method"), MATRIX)
def test_anonymous_requests_get_401_not_the_product(anon, make_product, name, method):
    product = make_product("Mine", [(100, 1)])
    path = reverse(f"api:{name}", kwargs={"product_id": product.pk})
    response = getattr(anon, method)(path, BODY)
    assert response.status_code == 401
    assert Product.objects.get().name == "Mine"


def test_the_list_and_search_never_show_another_users_products(api, make_product, other_user):
    make_product("Shared name", owner=other_user)
    products = reverse("api:products")
    assert api.get(products).json()["count"] == 0
    assert api.get(products, {"search": "Shared"}).json()["count"] == 0
