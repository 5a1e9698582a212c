"""Create, edit and delete: HTMX and the plain-page fallback; validation; isolation."""

import pytest
from django.urls import reverse

from dashboard.tests.conftest import HTMX
from products.models import Product
from products.services import product_suspend

pytestmark = pytest.mark.django_db


def test_create_page_works_without_javascript(user_client, user):
    page = user_client.get(reverse("dashboard:product-new"))
    assert page.status_code == 200 and "<html" in page.content.decode()
    response = user_client.post(
        reverse("dashboard:product-new"), {"name": " Kettle ", "description": "Steel"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")
    product = Product.objects.get()
    assert (product.name, product.description, product.owner) == ("Kettle", "Steel", user)
    assert "“Kettle” added" in user_client.get(response["Location"]).content.decode()


def test_create_with_htmx_answers_with_a_message_and_events(user_client):
    form = user_client.get(reverse("dashboard:product-new"), headers=HTMX).content.decode()
    assert "<html" not in form and 'id="product-form"' in form
    response = user_client.post(reverse("dashboard:product-new"), {"name": "Kettle"}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "products-changed, dialog-close"
    assert response["HX-Reswap"] == "none"
    body = response.content.decode()
    assert 'hx-swap-oob="true"' in body and "“Kettle” added" in body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "   "}, "This field is required."),
        ({"name": "x" * 201}, "at most 200 characters"),
        ({"name": "ok", "description": "x" * 2001}, "at most 2000 characters"),
    ],
)
def test_validation_errors_are_shown_in_place(user_client, data, error):
    response = user_client.post(reverse("dashboard:product-new"), data, headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="product-form"')
    assert error in body
    assert not Product.objects.exists()


def test_edit_with_htmx_and_without(user_client, make_product):
    product = make_product("Old")
    url = reverse("dashboard:product-edit", args=[product.pk])
    assert 'value="Old"' in user_client.get(url, headers=HTMX).content.decode()
    response = user_client.post(url, {"name": "New", "description": ""}, headers=HTMX)
    assert response["HX-Trigger"] == "products-changed, dialog-close"
    response = user_client.post(url, {"name": "Newer", "description": "d"})
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.description) == ("Newer", "d")


def test_delete_asks_to_confirm_then_deletes(user_client, make_product):
    product = make_product("Doomed")
    url = reverse("dashboard:product-delete", args=[product.pk])
    confirm = user_client.get(url, headers=HTMX).content.decode()
    assert "Delete “Doomed”?" in confirm
    assert Product.objects.exists()
    response = user_client.post(url, headers=HTMX)
    assert response["HX-Trigger"] == "products-changed, dialog-close"
    assert not Product.objects.exists()


def test_a_suspended_product_cannot_be_edited_or_deleted(user_client, make_product):
    product = product_suspend(product=make_product("Frozen"), reason="Under review")
    for name in ["dashboard:product-edit", "dashboard:product-delete"]:
        url = reverse(name, args=[product.pk])
        response = user_client.post(url, {"name": "Thawed"}, headers=HTMX)
        assert response.status_code == 409
        assert "suspended" in response.content.decode()
        plain = user_client.post(url, {"name": "Thawed"})
        assert plain.status_code == 302
    product.refresh_from_db()
    assert product.name == "Frozen"


@pytest.mark.parametrize(
    "name", ["dashboard:product", "dashboard:product-edit", "dashboard:product-delete"]
)
def test_another_users_product_is_404_everywhere(user_client, make_product, other_user, name):
    theirs = make_product("Theirs", owner=other_user)
    url = reverse(name, args=[theirs.pk])
    assert user_client.get(url).status_code == 404
    assert user_client.get(url, headers=HTMX).status_code == 404
    if name != "dashboard:product":  # the product page itself only answers GET
        assert user_client.post(url, {"name": "Mine now"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


@pytest.mark.parametrize(
    "name", ["dashboard:product", "dashboard:product-edit", "dashboard:product-delete"]
)
def test_anonymous_users_are_sent_to_login_and_htmx_gets_a_redirect(client, make_product, name):
    url = reverse(name, args=[make_product("P").pk])
    assert client.get(url)["Location"].startswith(reverse("account_login"))
    assert client.get(url, headers=HTMX)["HX-Redirect"].startswith(reverse("account_login"))
