"""The allauth flows, in our layout, with email as the login."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

User = get_user_model()

pytestmark = pytest.mark.django_db


def test_signup_creates_a_user_and_signs_in(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "New.User@Example.com",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "new.user@example.com"
    assert client.get(reverse("dashboard:overview")).status_code == 200


def test_signup_refuses_an_existing_address_in_another_case(client, user):
    response = client.post(
        reverse("account_signup"),
        {
            "email": user.email.upper(),
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize("typed", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.Com"])
def test_login_with_the_email_in_any_case(client, user, password, typed):
    response = client.post(reverse("account_login"), {"login": typed, "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")
    assert int(client.session["_auth_user_id"]) == user.pk


def test_login_with_a_wrong_password_is_refused_in_place(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "not correct" in response.content.decode()


@pytest.mark.parametrize("typed", ["root@example.com", "ROOT@Example.COM"])
def test_staff_reach_the_admin_through_the_sites_login_with_the_email_in_any_case(
    client, django_user_model, password, typed
):
    django_user_model.objects.create_superuser(email="root@example.com", password=password)
    # The admin's own form takes no credentials: it sends visitors to the site's login page,
    # which allauth rate-limits.
    response = client.post(reverse("admin:login"), {"username": typed, "password": password})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "_auth_user_id" not in client.session
    response = client.post(
        reverse("account_login"), {"login": typed, "password": password, "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_logout(user_client):
    response = user_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert user_client.get(reverse("dashboard:overview")).status_code == 302


def test_password_change(user_client, user, password):
    response = user_client.post(
        reverse("account_change_password"),
        {
            "oldpassword": password,
            "password1": "a-brand-new-secret",
            "password2": "a-brand-new-secret",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-brand-new-secret")


def test_password_reset_by_email(client, user):
    response = client.post(reverse("account_reset_password"), {"email": "ALICE@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    # allauth redirects the key URL to a key-less one, keeping the key in the session.
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link.group(1),
        {"password1": "reset-to-this-one", "password2": "reset-to-this-one"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("reset-to-this-one")


def test_email_confirmation(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    client.post(
        reverse("account_signup"),
        {
            "email": "new@example.com",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    client.post(link.group(1))
    assert EmailAddress.objects.get(email="new@example.com").verified


def test_auth_pages_use_our_layout(client):
    for name in ["account_login", "account_signup", "account_reset_password"]:
        html = client.get(reverse(name)).content.decode()
        assert 'class="site-header"' in html, name
        assert "css/app.css" in html, name


def test_rate_limits_stop_password_guessing(
    client, user, password, settings, empty_cache_afterwards
):
    # Off in the test settings (they live in the cache and leak across tests); on here.
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip,3/5m/key"}
    for _ in range(3):
        client.post(reverse("account_login"), {"login": user.email, "password": "wrong"})
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 429)
    assert "Too many failed login attempts" in response.content.decode()
