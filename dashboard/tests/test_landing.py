from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_landing_page_says_what_the_product_does_and_offers_sign_up(client):
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "what your products are offered for" in html
    assert reverse("account_signup") in html
    assert reverse("account_login") in html


def test_signed_in_users_go_to_their_dashboard(user_client):
    response = user_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")


def test_plotly_js_is_found_in_the_installed_package_for_runserver_and_collectstatic():
    path = finders.find("vendor/plotly.min.js")
    assert path and Path(path).read_bytes()[:200].lower().find(b"plotly") >= 0
    listed = {
        f"{storage.prefix}/{name}"
        for finder in finders.get_finders()
        for name, storage in finder.list([])
        if getattr(storage, "prefix", None) == "vendor"
    }
    assert listed == {"vendor/plotly.min.js"}
