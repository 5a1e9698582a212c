"""The API token card on the profile page: create, show, revoke (HTMX and plain forms)."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import user_api_token, user_api_token_create

pytestmark = pytest.mark.django_db

CREATE = "/accounts/profile/api-token/"
REVOKE = "/accounts/profile/api-token/revoke/"
PROFILE = "/accounts/profile/"
HTMX = {"HX-Request": "true", "HX-Target": "api-token"}


def test_urls_are_named():
    assert reverse("accounts:api-token-create") == CREATE
    assert reverse("accounts:api-token-revoke") == REVOKE


def test_profile_without_a_token_offers_to_create_one(user_client):
    page = user_client.get(PROFILE).content.decode()
    assert 'id="api-token"' in page
    assert "Create token" in page
    assert reverse("api:docs") in page
    assert "Revoke" not in page


def test_profile_shows_the_token_and_is_not_cached(user_client, user):
    key = user_api_token_create(user=user)
    response = user_client.get(PROFILE)
    page = response.content.decode()
    assert f'value="{key}"' in page
    assert "Revoke" in page
    assert "Create token" not in page
    assert "no-store" in response["Cache-Control"]


def test_htmx_create_answers_the_card_with_the_key(user_client, user):
    response = user_client.post(CREATE, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    key = user_api_token(user=user)
    card = response.content.decode()
    assert card.lstrip().startswith('<section id="api-token"')
    assert f'value="{key}"' in card
    assert "<html" not in card


def test_plain_create_redirects_to_the_profile_showing_the_key(user_client, user):
    response = user_client.post(CREATE)
    assert response.status_code == 302
    assert response["Location"] == PROFILE
    page = user_client.get(PROFILE).content.decode()
    assert f'value="{user_api_token(user=user)}"' in page
    assert "Your API token is ready." in page


def test_creating_twice_keeps_the_same_key(user_client, user):
    user_client.post(CREATE, headers=HTMX)
    first = user_api_token(user=user)
    response = user_client.post(CREATE, headers=HTMX)
    assert user_api_token(user=user) == first
    assert f'value="{first}"' in response.content.decode()


def test_htmx_revoke_removes_the_token(user_client, user):
    key = user_api_token_create(user=user)
    response = user_client.post(REVOKE, headers=HTMX)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    card = response.content.decode()
    assert "Create token" in card
    assert key not in card
    assert user_api_token(user=user) is None


def test_the_api_refuses_a_revoked_key(user_client, user):
    key = user_api_token_create(user=user)
    program = Client()  # no session: only the token speaks for it
    me = reverse("api:me")
    assert program.get(me, headers={"Authorization": f"Token {key}"}).status_code == 200
    user_client.post(REVOKE, headers=HTMX)
    assert program.get(me, headers={"Authorization": f"Token {key}"}).status_code == 401


def test_plain_revoke_redirects_with_a_message(user_client, user):
    user_api_token_create(user=user)
    response = user_client.post(REVOKE)
    assert response.status_code == 302
    assert response["Location"] == PROFILE
    page = user_client.get(PROFILE).content.decode()
    assert "Your API token is revoked." in page
    assert "Create token" in page


def test_revoking_without_a_token_just_shows_the_card(user_client):
    response = user_client.post(REVOKE, headers=HTMX)
    assert response.status_code == 200
    assert "Create token" in response.content.decode()


@pytest.mark.parametrize("url", [CREATE, REVOKE])
def test_get_is_not_allowed(user_client, url):
    assert user_client.get(url).status_code == 405


@pytest.mark.parametrize("url", [CREATE, REVOKE])
def test_anonymous_is_sent_to_login(client, url):
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_revoke_leaves_other_users_tokens_alone(user_client, user, other_user):
    user_api_token_create(user=user)
    other_key = user_api_token_create(user=other_user)
    user_client.post(REVOKE, headers=HTMX)
    assert user_api_token(user=user) is None
    assert user_api_token(user=other_user) == other_key
