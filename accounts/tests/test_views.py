import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.urls import reverse

from accounts.services import user_delete

User = get_user_model()

pytestmark = pytest.mark.django_db


def test_profile_requires_login(client):
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_profile_saves_name_and_time_zone(user_client, user):
    response = user_client.post(
        reverse("accounts:profile"), {"full_name": " Alice Smith ", "time_zone": "Europe/Prague"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.full_name == "Alice Smith"
    assert user.time_zone == "Europe/Prague"
    page = user_client.get(reverse("accounts:profile")).content.decode()
    assert "Alice" in page  # the navigation shows the name now
    assert "Europe/Prague" in page


def test_profile_refuses_an_unknown_time_zone(user_client, user):
    response = user_client.post(
        reverse("accounts:profile"), {"full_name": "", "time_zone": "Mars/Olympus"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    user.refresh_from_db()
    assert user.time_zone != "Mars/Olympus"


def test_account_delete_asks_for_the_password(user_client, user):
    response = user_client.post(reverse("accounts:delete"), {"password": "wrong"})
    assert response.status_code == 200
    assert "not your password" in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()


def test_account_delete_removes_the_account_and_signs_out(user_client, user, password):
    response = user_client.post(reverse("accounts:delete"), {"password": password})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert user_client.get(reverse("dashboard:overview")).status_code == 302


def test_a_failed_account_delete_keeps_everything_and_the_user_signed_in(
    user_client, user, password, monkeypatch, caplog
):
    def fail(*, user):
        # Forced: the real database does not fail on demand (a lock or statement timeout).
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr("accounts.views.user_delete", fail)

    response = user_client.post(reverse("accounts:delete"), {"password": password})

    assert response.status_code == 200
    assert "could not be deleted" in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()
    assert user_client.get(reverse("dashboard:overview")).status_code == 200  # still signed in
    assert "Deleting the account of user" in caplog.text


def test_account_delete_is_all_or_nothing(user, make_product, monkeypatch):
    product = make_product("Kettle")
    user_pk, delete = user.pk, User.delete

    def delete_then_fail(self, *args, **kwargs):
        delete(self, *args, **kwargs)
        raise OperationalError("the connection dropped")  # after the rows were deleted

    monkeypatch.setattr(User, "delete", delete_then_fail)

    with pytest.raises(OperationalError):
        user_delete(user=user)
    assert User.objects.filter(pk=user_pk).exists()
    assert type(product).objects.filter(pk=product.pk).exists()


def test_htmx_request_from_an_expired_session_is_redirected_to_login(client):
    response = client.get(
        reverse("accounts:profile"),
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/accounts/profile/"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Faccounts%2Fprofile%2F"
