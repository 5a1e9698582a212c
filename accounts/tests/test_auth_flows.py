"""The allauth flows, in our layout, with email as the login."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

User = get_user_model()

pytestmark = pytest.mark.django_db


SIGNUP = {"password1": "a-long-passphrase", "password2": "a-long-passphrase"}


def confirmation_link(message) -> str:
    """The path of the confirmation link in an email allauth sent."""
    link = re.search(r"http://testserver(/accounts/confirm-email/\S+)", message.body)
    assert link, message.body
    return link.group(1)


def is_signed_in(client) -> bool:
    return client.get(reverse("dashboard:overview")).status_code == 200


def test_email_verification_is_mandatory_in_the_test_settings():
    # DEBUG is off in tests, as in production: the setting's default there.
    from allauth.account import app_settings

    assert app_settings.EMAIL_VERIFICATION == app_settings.EmailVerificationMethod.MANDATORY


def test_signup_signs_in_only_once_the_emailed_link_is_followed(client):
    response = client.post(reverse("account_signup"), {"email": "New.User@Example.com", **SIGNUP})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert user.email == "new.user@example.com"
    assert "_auth_user_id" not in client.session
    [message] = mail.outbox
    assert message.to == ["new.user@example.com"]

    response = client.post(confirmation_link(message))

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")
    assert EmailAddress.objects.get(user=user).verified
    assert is_signed_in(client)


def test_the_link_opened_in_another_browser_confirms_but_does_not_sign_in(client):
    client.post(reverse("account_signup"), {"email": "new@example.com", **SIGNUP})
    elsewhere = Client()

    elsewhere.post(confirmation_link(mail.outbox[0]))

    assert EmailAddress.objects.get(email="new@example.com").verified
    assert not is_signed_in(elsewhere)


def test_signup_with_a_taken_address_looks_like_any_signup_and_tells_the_owner(client, user):
    fresh = Client().post(reverse("account_signup"), {"email": "fresh@example.com", **SIGNUP})
    mail.outbox.clear()

    response = client.post(reverse("account_signup"), {"email": user.email.upper(), **SIGNUP})

    assert (response.status_code, response["Location"]) == (fresh.status_code, fresh["Location"])
    page = client.get(response["Location"]).content.decode()
    assert "already" not in page
    assert not is_signed_in(client)
    assert User.objects.filter(email__iexact=user.email).count() == 1
    [message] = mail.outbox
    assert message.to == [user.email]
    assert "an account using that email address already exists" in message.body


def test_login_with_an_unconfirmed_address_asks_to_verify_it(client, django_user_model, password):
    django_user_model.objects.create_user(email="new@example.com", password=password)

    response = client.post(
        reverse("account_login"), {"login": "new@example.com", "password": password}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "Verify Your Email Address" in client.get(response["Location"]).content.decode()
    assert not is_signed_in(client)
    [message] = mail.outbox  # a fresh link, to the address
    assert message.to == ["new@example.com"]
    client.post(confirmation_link(message))
    response = client.post(
        reverse("account_login"), {"login": "new@example.com", "password": password}
    )
    assert response["Location"] == reverse("dashboard:overview")


def test_a_superuser_made_on_the_command_line_signs_in_without_a_link(client, password):
    call_command("createsuperuser", email="Root@Example.com", interactive=False, verbosity=0)
    root = User.objects.get(email="root@example.com")
    root.set_password(password)
    root.save()

    response = client.post(reverse("account_login"), {"login": root.email, "password": password})

    assert response["Location"] == reverse("dashboard:overview")
    assert mail.outbox == []


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


def test_password_reset_does_not_tell_whether_an_address_has_an_account(client, user):
    known = client.post(reverse("account_reset_password"), {"email": user.email})
    unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    # Each address is told what is true for it, by email only.
    assert [message.to for message in mail.outbox] == [[user.email], ["nobody@example.com"]]
    assert "do not have any record of such an account" in mail.outbox[1].body


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


def attempt_login_through_the_proxy(forwarded_for: str):
    """A failed login as it reaches the app through the TLS proxy, which appends the address
    it saw to X-Forwarded-For (what the client sent itself comes before it)."""
    return Client(headers={"x-forwarded-for": forwarded_for}).post(
        reverse("account_login"), {"login": "someone@example.com", "password": "wrong"}
    )


def test_behind_the_proxy_each_client_address_is_limited_on_its_own(
    settings, empty_cache_afterwards
):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # as BEHIND_TLS_PROXY=true sets it (test_settings)
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}  # on here, as in the test above

    first = [attempt_login_through_the_proxy("203.0.113.1").status_code for _ in range(3)]

    assert first == [200, 200, 429]
    assert attempt_login_through_the_proxy("203.0.113.2").status_code == 200
    # A client cannot pass for another by writing an address of its own before the proxy's.
    assert attempt_login_through_the_proxy("203.0.113.9, 203.0.113.1").status_code == 429


def test_without_a_proxy_x_forwarded_for_is_not_believed(settings, empty_cache_afterwards):
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}
    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == 0  # BEHIND_TLS_PROXY is off in tests

    statuses = [attempt_login_through_the_proxy(f"203.0.113.{n}").status_code for n in (1, 2, 3)]

    assert statuses == [200, 200, 429]  # one client, whatever addresses it names
