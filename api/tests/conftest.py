import pytest
from rest_framework.test import APIClient

from accounts.services import user_api_token_create


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def token(user):
    return user_api_token_create(user=user)


@pytest.fixture
def api(token):
    """A client of `user`, signed in by its API token (as programs are)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def other_api(other_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_api_token_create(user=other_user)}")
    return client


def errors(response) -> dict[str | None, str]:
    """The errors of an API error answer, {attr: code}, after checking its one shape."""
    body = response.json()
    assert set(body) == {"type", "errors"}, body
    assert body["type"] in {"validation_error", "client_error", "server_error"}
    return {error["attr"]: error["code"] for error in body["errors"]}
