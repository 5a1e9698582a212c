"""Per-account limits (issue 14): products per account, and syncs asked for per minute."""

import pytest
from django.urls import reverse

from dashboard.tests.conftest import HTMX
from products.models import Product

pytestmark = pytest.mark.django_db


def test_adding_a_product_beyond_the_accounts_limit_is_refused_with_the_reason(
    user_client, user, make_product, settings
):
    settings.PRODUCTS_PER_USER_MAX = 2
    make_product("One")
    make_product("Two")

    response = user_client.post(
        reverse("dashboard:product-new"), {"name": "Three", "description": ""}, headers=HTMX
    )

    assert response.status_code == 422  # the form again, with the reason
    assert "You have 2 products, the most one account may have" in response.content.decode()
    assert Product.objects.filter(owner=user).count() == 2


def test_the_api_refuses_a_product_beyond_the_limit_with_403(user, make_product, settings):
    from rest_framework.test import APIClient

    settings.PRODUCTS_PER_USER_MAX = 1
    make_product("One")
    client = APIClient()
    client.force_authenticate(user)

    response = client.post("/api/v1/products/", {"name": "Two"}, format="json")

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "product_limit_reached"


def test_sync_now_is_limited_per_user_over_all_their_products(
    user_client, user, make_product, settings, empty_cache_afterwards
):
    settings.SYNC_NOW_PER_USER_PER_MINUTE = 2
    products = [make_product(f"P{i}", [(100, 1)]) for i in range(3)]

    responses = [
        user_client.post(reverse("dashboard:product-sync", args=[p.pk]), headers=HTMX)
        for p in products
    ]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert "You have asked for 2 syncs or registrations in the last minute" in (
        responses[2].content.decode()
    )
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    response = api.post(f"/api/v1/products/{products[2].pk}/sync/")
    assert response.status_code == 429 and int(response["Retry-After"]) <= 61
