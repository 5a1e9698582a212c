"""Writes to accounts: profile changes and account deletion."""

from allauth.account.models import EmailAddress
from django.db import transaction

from accounts.models import User


def user_update_profile(*, user: User, full_name: str, time_zone: str) -> User:
    """Store the name and time zone the user chose (both already validated by the form)."""
    user.full_name = full_name.strip()
    user.time_zone = time_zone
    user.save(update_fields=["full_name", "time_zone"])
    return user


def user_sync_primary_email(*, user: User) -> None:
    """Keep allauth's primary EmailAddress row in step after staff change a user's email."""
    with transaction.atomic():
        address = EmailAddress.objects.filter(user=user, primary=True).first()
        if address is None:
            EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
        elif address.email != user.email:
            EmailAddress.objects.filter(user=user).exclude(pk=address.pk).filter(
                email=user.email
            ).delete()
            address.email = user.email
            address.verified = False
            address.save(update_fields=["email", "verified"])


def user_delete(*, user: User) -> None:
    """Delete the account and everything it owns (products, their offers and history cascade)."""
    user.delete()
