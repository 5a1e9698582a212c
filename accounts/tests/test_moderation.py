"""Staff moderate users in the admin: deactivate and reactivate, with a reason and an audit trail;
only staff reach the admin."""

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.services import user_deactivate, user_reactivate

User = get_user_model()

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_user_changelist"


def signed_in(email: str, password: str) -> Client:
    """A browser signed in through the site's login page (the way sessions are really made)."""
    browser = Client()
    response = browser.post(reverse("account_login"), {"login": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]
    return browser


def act(staff_client, action: str, users, **data):
    return staff_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [user.pk for user in users], **data},
        follow=True,
    )


def is_signed_in(browser: Client) -> bool:
    return browser.get(reverse("dashboard:overview")).status_code == 200


# --- Deactivation ---------------------------------------------------------------------------------


def test_deactivate_asks_for_a_reason_first(staff_client, user):
    page = act(staff_client, "deactivate", [user]).content.decode()
    assert "Deactivate users" in page and 'name="reason"' in page and user.email in page
    user.refresh_from_db()
    assert user.is_active  # nothing happened yet


def test_deactivate_without_a_reason_is_refused_in_place(staff_client, user):
    page = act(staff_client, "deactivate", [user], reason="  ").content.decode()
    assert "This field is required" in page
    user.refresh_from_db()
    assert user.is_active


def test_deactivation_ends_sessions_logins_and_api_tokens(staff_client, user, password):
    browser = signed_in(user.email, password)
    assert UserSession.objects.filter(user=user).exists()
    token = Token.objects.create(user=user)
    api = Client(headers={"authorization": f"Token {token.key}"})
    assert api.get("/api/v1/users/me/").status_code == 200

    page = act(staff_client, "deactivate", [user], reason="Spam account").content.decode()

    assert "Deactivated 1 user(s)" in page
    user.refresh_from_db()
    assert not user.is_active
    assert not UserSession.objects.filter(user=user).exists()
    assert not is_signed_in(browser)
    # Neither the login page, nor the API's token endpoint, nor a token let them in.
    response = Client().post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302 and response["Location"] == reverse("account_inactive")
    response = Client().post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": password},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert api.get("/api/v1/users/me/").status_code == 401


def test_reactivation_lets_them_sign_in_again_with_their_token(staff_client, user, password):
    browser = signed_in(user.email, password)
    token = Token.objects.create(user=user)
    act(staff_client, "deactivate", [user], reason="Chargeback")

    page = act(staff_client, "reactivate", [user]).content.decode()

    assert "Reactivated 1 user(s)" in page
    user.refresh_from_db()
    assert user.is_active
    assert not is_signed_in(browser)  # the ended session stays ended
    assert is_signed_in(signed_in(user.email, password))
    api = Client(headers={"authorization": f"Token {token.key}"})
    assert api.get("/api/v1/users/me/").status_code == 200


def test_staff_cannot_deactivate_themselves(staff_client, staff):
    page = act(staff_client, "deactivate", [staff], reason="oops").content.decode()
    assert "You cannot deactivate yourself" in page
    staff.refresh_from_db()
    assert staff.is_active


def test_only_a_superuser_deactivates_a_superuser(client, password):
    from django.contrib.auth.models import Permission

    root = User.objects.create_superuser(email="root@example.com", password=password)
    moderator = User.objects.create_user(email="mod@example.com", password=password, is_staff=True)
    moderator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(moderator)
    page = act(client, "deactivate", [root], reason="coup").content.decode()
    assert "Only a superuser can deactivate" in page
    root.refresh_from_db()
    assert root.is_active


def test_is_active_is_not_a_field_staff_can_tick(staff_client, user):
    page = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="is_active"' not in page


def test_the_services_say_whether_anything_changed(user):
    assert user_deactivate(user=user) and not user_deactivate(user=user)
    assert user_reactivate(user=user) and not user_reactivate(user=user)


# --- The audit trail ------------------------------------------------------------------------------


def test_every_act_is_recorded_with_who_what_and_why(staff_client, staff, user):
    act(staff_client, "deactivate", [user], reason="Reselling stolen goods")
    act(staff_client, "reactivate", [user])
    entries = LogEntry.objects.filter(object_id=str(user.pk)).order_by("action_time", "pk")
    assert [(e.user, e.change_message) for e in entries] == [
        (staff, "Deactivated. Reason: Reselling stolen goods"),
        (staff, "Reactivated."),
    ]
    page = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "Reselling stolen goods" in page and "Reactivated." in page and staff.email in page


def test_the_users_page_also_shows_what_staff_did_to_their_products(
    staff_client, user, make_product
):
    product = make_product("Fake watch")
    staff_client.post(
        reverse("admin:products_product_changelist"),
        {"action": "suspend", "_selected_action": [product.pk], "reason": "Counterfeit"},
    )
    page = staff_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "Suspended. Reason: Counterfeit" in page and "Fake watch" in page


# --- Search, filters, columns -------------------------------------------------------------------


def listed(staff_client, **params) -> str:
    return staff_client.get(reverse(CHANGELIST), params).content.decode()


def test_search_by_email_and_by_name(staff_client, user, other_user):
    other_user.full_name = "Robert Tables"
    other_user.save()
    page = listed(staff_client, q="tables")
    assert other_user.email in page and user.email not in page
    page = listed(staff_client, q="ALICE@")
    assert user.email in page and other_user.email not in page


def test_filter_by_active_and_staff(staff_client, staff, user, other_user):
    user_deactivate(user=other_user)
    page = listed(staff_client, is_active__exact="0")
    assert other_user.email in page and user.email not in page
    page = listed(staff_client, is_staff__exact="1")
    assert staff.email in page and user.email not in page


def test_filter_by_date_joined(staff_client, user, other_user):
    User.objects.filter(pk=other_user.pk).update(date_joined=timezone.now() - timedelta(days=90))
    week_ago = timezone.now().replace(microsecond=0) - timedelta(days=7)
    page = listed(staff_client, date_joined__gte=str(week_ago))
    assert user.email in page and other_user.email not in page


def test_filter_by_failing_products(staff_client, user, other_user, make_product, set_tracking):
    failing = make_product("Broken", owner=other_user)
    set_tracking(failing, registration_state="registered", sync_failures=2, last_sync_error="500")
    make_product("Fine", [(100, 1)], owner=user)
    page = listed(staff_client, failing="yes")
    assert other_user.email in page and user.email not in page
    page = listed(staff_client, failing="no")
    assert user.email in page and other_user.email not in page


def test_each_user_shows_their_product_count(staff_client, user, make_product):
    make_product("One")
    make_product("Two")
    page = listed(staff_client, q=user.email)
    assert 'class="field-product_count">2<' in page


# --- Who reaches the admin ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/accounts/user/", "/admin/products/product/", "/admin/login/"]
)
def test_the_admin_does_not_exist_for_users_who_are_not_staff(user_client, url):
    assert user_client.get(url).status_code == 404


@pytest.mark.parametrize("url", ["/admin/", "/admin/products/product/", "/admin/login/"])
def test_visitors_are_sent_to_the_sites_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


def test_a_deactivated_staff_member_loses_the_admin(client, password):
    moderator = User.objects.create_user(
        email="mod@example.com", password=password, is_staff=True, email_verified=True
    )
    browser = signed_in(moderator.email, password)
    assert browser.get("/admin/").status_code == 200
    user_deactivate(user=moderator)
    response = browser.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_the_admins_login_is_rate_limited_like_the_sites(
    client, staff, password, settings, empty_cache_afterwards
):
    # Off in the test settings (they live in the cache and leak across tests); on here.
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "3/m/ip,3/5m/key"}
    login = client.get("/admin/login/", follow=True).redirect_chain[-1][0]
    for _ in range(3):
        client.post(login, {"login": staff.email, "password": "wrong"})
    response = client.post(login, {"login": staff.email, "password": password})
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_signed_in_staff_cannot_guess_passwords_through_the_admins_login_form(
    client, staff, password
):
    # Django's admin login form is not rate-limited, and would sign the guesser in as the
    # account guessed: it takes no credentials at all.
    moderator = User.objects.create_user(email="mod@example.com", password=password, is_staff=True)
    client.force_login(moderator)
    for guess in ["wrong-1", "wrong-2", "wrong-3", "wrong-4", "wrong-5", password]:
        response = client.post("/admin/login/", {"username": staff.email, "password": guess})
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:index")
    assert int(client.session["_auth_user_id"]) == moderator.pk


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [("/admin/accounts/user/", "/admin/accounts/user/"), ("https://evil.example/", "/admin/")],
)
def test_staff_signed_in_already_are_sent_on_from_the_admins_login(
    staff_client, next_url, expected
):
    response = staff_client.get("/admin/login/", {"next": next_url})
    assert response.status_code == 302 and response["Location"] == expected


def test_the_admins_password_change_is_the_sites_rate_limited_page(staff_client, staff, password):
    response = staff_client.post(
        "/admin/password_change/",
        {"old_password": password, "new_password1": "n3w-secret!", "new_password2": "n3w-secret!"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_change_password")
    staff.refresh_from_db()
    assert staff.check_password(password)


# --- The user's own sessions (the record that lets staff end them) ---------------------------


def test_users_see_where_they_are_signed_in_and_sign_out_elsewhere(user, password):
    here, elsewhere = signed_in(user.email, password), signed_in(user.email, password)
    assert reverse("usersessions_list") in here.get(reverse("accounts:profile")).content.decode()
    page = here.get(reverse("usersessions_list")).content.decode()
    assert 'class="site-header"' in page  # in our layout
    assert page.count("127.0.0.1") >= 2
    response = here.post(reverse("usersessions_list"))
    assert response.status_code == 302
    assert is_signed_in(here) and not is_signed_in(elsewhere)
