import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import IntegrityError

User = get_user_model()

pytestmark = pytest.mark.django_db


def test_create_user_stores_the_email_lower_cased_and_stripped():
    user = User.objects.create_user(email="  Alice.Smith@Example.COM ", password="pw-12345678")
    assert user.email == "alice.smith@example.com"
    assert user.check_password("pw-12345678")
    assert not user.is_staff
    assert not user.is_superuser


def test_create_user_makes_the_allauth_email_address_row():
    user = User.objects.create_user(email="Alice@Example.com", password="x")
    address = EmailAddress.objects.get(user=user)
    assert address.email == "alice@example.com"
    assert address.primary
    assert not address.verified


@pytest.mark.parametrize("email", ["", None, "   "])
def test_create_user_without_an_email_raises_a_clear_value_error(email):
    with pytest.raises(ValueError, match="email address is required"):
        User.objects.create_user(email=email, password="x")


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.com", "a b@example.com"])
def test_create_user_with_an_invalid_email_raises_a_clear_value_error(email):
    with pytest.raises(ValueError, match="not a valid email address"):
        User.objects.create_user(email=email, password="x")


def test_the_same_address_in_another_case_is_refused():
    User.objects.create_user(email="alice@example.com", password="x")
    with pytest.raises(IntegrityError):
        User.objects.create_user(email="ALICE@example.com", password="x")


def test_the_database_refuses_a_case_variant_written_around_the_manager():
    User.objects.create_user(email="alice@example.com", password="x")
    with pytest.raises(IntegrityError):
        # bulk_create skips save(), so only the functional unique constraint stands in the way.
        User.objects.bulk_create([User(email="Alice@Example.com")])


def test_create_superuser_sets_the_flags_and_a_verified_address():
    admin = User.objects.create_superuser(email="Root@Example.com", password="x")
    assert admin.is_staff and admin.is_superuser and admin.is_active
    assert EmailAddress.objects.get(user=admin).verified


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_create_superuser_refuses_a_false_flag(flag):
    with pytest.raises(ValueError, match=flag):
        User.objects.create_superuser(email="root@example.com", password="x", **{flag: False})


def test_natural_key_lookup_ignores_case():
    user = User.objects.create_user(email="alice@example.com", password="x")
    assert User.objects.get_by_natural_key("ALICE@Example.Com ") == user


def test_time_zone_defaults_to_the_site_zone(settings):
    user = User.objects.create_user(email="alice@example.com", password="x")
    assert user.time_zone == settings.TIME_ZONE


def test_names_fall_back_to_the_email():
    user = User(email="alice@example.com")
    assert user.get_full_name() == "alice@example.com"
    assert user.get_short_name() == "alice@example.com"
    user.full_name = "Alice Smith"
    assert user.get_full_name() == "Alice Smith"
    assert user.get_short_name() == "Alice"
