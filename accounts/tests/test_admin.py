import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.urls import reverse

User = get_user_model()

pytestmark = pytest.mark.django_db


def test_admin_lists_and_searches_users_by_email(staff_client, user, other_user):
    page = staff_client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert user.email in page and other_user.email in page
    page = staff_client.get(
        reverse("admin:accounts_user_changelist"), {"q": "ALICE"}
    ).content.decode()
    assert user.email in page and other_user.email not in page


def test_admin_adds_a_user_with_a_lower_cased_email(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "time_zone": "Europe/Prague",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-long-passphrase")
    assert EmailAddress.objects.get(user=user).email == "new.person@example.com"


def test_admin_refuses_a_duplicate_email_in_another_case(staff_client, user):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "ALICE@example.com",
            "time_zone": "UTC",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_admin_changes_a_user(staff_client, user):
    url = reverse("admin:accounts_user_change", args=[user.pk])
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(
        url,
        {
            "email": "Alice.New@Example.com",
            "full_name": "Alice",
            "time_zone": "UTC",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.email == "alice.new@example.com"
    assert EmailAddress.objects.get(user=user, primary=True).email == "alice.new@example.com"
