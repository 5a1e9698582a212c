"""Accounts and tokens through the API: signup, token lifecycle, the user's own details."""

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from api.tests.conftest import errors

pytestmark = pytest.mark.django_db

USERS, TOKEN, ME = reverse("api:users"), reverse("api:token"), reverse("api:me")
PASSWORD = "a long passphrase"


def test_signing_up_creates_the_account_and_never_returns_the_password(anon):
    response = anon.post(USERS, {"email": " Ada@Example.COM ", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.com"
    assert "password" not in response.json()
    user = User.objects.get(email="ada@example.com")
    assert user.check_password(PASSWORD)
    assert user.emailaddress_set.get().primary  # allauth knows the address


def test_a_taken_email_answers_as_a_new_signup_and_its_owner_is_told(anon, user, mailoutbox):
    # Mandatory verification (DEBUG off): the answer must not tell who has an account.
    taken = anon.post(USERS, {"email": user.email.upper(), "password": PASSWORD})
    new = anon.post(USERS, {"email": "new@example.com", "password": PASSWORD})

    assert taken.status_code == new.status_code == 201
    assert set(taken.json()) == set(new.json())
    assert taken.json()["email"] == user.email and taken.json()["email_verified"] is False
    assert User.objects.filter(email__iexact=user.email).count() == 1
    assert not User.objects.get(pk=user.pk).check_password(PASSWORD)  # nothing of theirs changed
    to_owner = [m for m in mailoutbox if m.to == [user.email]]
    assert len(to_owner) == 1 and "already" in to_owner[0].body.lower()


def test_a_duplicate_email_is_refused_when_verification_is_optional(anon, user, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"  # development: signup tells, as allauth's
    response = anon.post(USERS, {"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 400
    assert errors(response) == {"email": "unique"}


def test_the_password_goes_through_djangos_validators(anon):
    response = anon.post(USERS, {"email": "ada@example.com", "password": "12345678"})
    assert response.status_code == 400
    assert set(errors(response)) == {"password"}
    assert not User.objects.filter(email="ada@example.com").exists()


def test_signing_up_sends_the_confirmation_email_as_the_signup_page_does(anon, settings):
    anon.post(USERS, {"email": "ada@example.com", "password": PASSWORD, "full_name": "Ada"})
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    anon.post(USERS, {"email": "bea@example.com", "password": PASSWORD})
    assert len(mail.outbox) == 1


def test_with_mandatory_verification_no_token_until_the_address_is_confirmed(anon, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    anon.post(USERS, {"email": "ada@example.com", "password": PASSWORD})
    response = anon.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert errors(response) == {None: "email_unverified"}
    User.objects.get().emailaddress_set.update(verified=True)
    assert anon.post(TOKEN, {"email": "ada@example.com", "password": PASSWORD}).status_code == 200


def test_the_token_lifecycle(anon, user, password):
    response = anon.post(TOKEN, {"email": "ALICE@example.com", "password": password})
    assert response.status_code == 200
    key = response.json()["token"]
    # Asking again gives the same token.
    assert anon.post(TOKEN, {"email": user.email, "password": password}).json()["token"] == key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(ME).json()["email"] == user.email
    assert client.delete(TOKEN).status_code == 204
    response = client.get(ME)
    assert response.status_code == 401
    assert errors(response) == {None: "authentication_failed"}


def test_wrong_credentials_do_not_say_which_part_was_wrong(anon, user, password):
    wrong_password = anon.post(TOKEN, {"email": user.email, "password": "nope"})
    unknown_email = anon.post(TOKEN, {"email": "nobody@example.com", "password": password})
    assert wrong_password.status_code == unknown_email.status_code == 400
    assert wrong_password.json() == unknown_email.json()
    assert errors(wrong_password) == {None: "invalid_credentials"}


def test_a_deactivated_users_token_gets_401_and_no_new_one(api, anon, user, password):
    user.is_active = False
    user.save()
    assert api.get(ME).status_code == 401
    response = anon.post(TOKEN, {"email": user.email, "password": password})
    assert errors(response) == {None: "invalid_credentials"}


def test_a_stale_token_does_not_stop_signing_in_or_up(anon, user, password):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert anon.post(TOKEN, {"email": user.email, "password": password}).status_code == 200
    assert anon.post(USERS, {"email": "ada@example.com", "password": PASSWORD}).status_code == 201


def test_anonymous_requests_get_401_with_a_challenge(anon):
    response = anon.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert anon.delete(TOKEN).status_code == 401


def test_me_shows_the_users_details(api, user):
    assert api.get(ME).json() == {
        "email": "alice@example.com",
        "full_name": "",
        "time_zone": "UTC",
        "date_joined": user.date_joined.isoformat(),
        "email_verified": True,  # the fixture's user has confirmed their address
    }


def test_post_to_me_is_405(api):
    response = api.post(ME, {})
    assert response.status_code == 405
    assert errors(response) == {None: "method_not_allowed"}


def test_put_replaces_and_needs_every_field(api, user):
    response = api.put(ME, {"full_name": "Alice"})
    assert response.status_code == 400
    assert errors(response) == {"email": "required", "time_zone": "required"}
    response = api.put(
        ME, {"email": "alice@example.com", "full_name": "Alice", "time_zone": "Europe/Prague"}
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.full_name, user.time_zone) == ("Alice", "Europe/Prague")


def test_patch_changes_only_what_it_names(api, user):
    user.full_name = "Alice"
    user.save()
    response = api.patch(ME, {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 200
    assert response.json()["full_name"] == "Alice"
    assert response.json()["time_zone"] == "Asia/Tokyo"


def test_an_unknown_time_zone_is_refused(api):
    response = api.patch(ME, {"time_zone": "Mars/Olympus"})
    assert errors(response) == {"time_zone": "invalid"}


def test_changing_the_email_needs_a_free_address_and_confirming_it(api, user, other_user):
    assert errors(api.patch(ME, {"email": "BOB@example.com"})) == {"email": "unique"}
    response = api.patch(ME, {"email": "Alice.New@example.com"})
    assert response.json()["email"] == "alice.new@example.com"
    assert response.json()["email_verified"] is False
    assert mail.outbox[-1].to == ["alice.new@example.com"]
    assert user.emailaddress_set.get(primary=True).email == "alice.new@example.com"


def test_a_new_password_needs_the_current_one_and_replaces_it(api, anon, user, password):
    assert errors(api.patch(ME, {"password": "another long passphrase"})) == {
        "current_password": "required"
    }
    response = api.patch(ME, {"password": "another long passphrase", "current_password": "x"})
    assert errors(response) == {"current_password": "invalid"}
    response = api.patch(ME, {"password": "another long passphrase", "current_password": password})
    assert response.status_code == 200
    assert "password" not in response.json()
    old = anon.post(TOKEN, {"email": user.email, "password": password})
    assert errors(old) == {None: "invalid_credentials"}
    new = anon.post(TOKEN, {"email": user.email, "password": "another long passphrase"})
    assert new.status_code == 200
    assert api.get(ME).status_code == 200  # the token goes on working


def test_a_weak_new_password_is_refused(api, password):
    response = api.patch(ME, {"password": "alice", "current_password": password})
    assert set(errors(response)) == {"password"}


def test_a_session_stays_signed_in_after_changing_its_password(user, password):
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(user)
    response = client.patch(
        ME, {"password": "another long passphrase", "current_password": password}
    )
    assert response.status_code == 200
    assert client.get(ME).status_code == 200


def test_session_requests_need_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(ME).status_code == 200  # safe methods need none
    response = client.patch(ME, {"full_name": "Alice"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["detail"]
