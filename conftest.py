"""Fixtures shared by every test: users, and the Offers simulator over real HTTP."""

import pytest


@pytest.fixture
def password():
    return "correct horse battery staple"


@pytest.fixture
def user(django_user_model, password):
    return django_user_model.objects.create_user(email="alice@example.com", password=password)


@pytest.fixture
def other_user(django_user_model, password):
    return django_user_model.objects.create_user(email="bob@example.com", password=password)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client
