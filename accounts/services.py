"""Writes to accounts: sign-ups made outside allauth's pages, profile changes, API tokens,
deactivation by staff and account deletion."""

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User, normalize_email_address


def user_signup_hides_accounts() -> bool:
    """Whether signing up answers alike for an address that has an account (whose owner is
    emailed instead): only with mandatory verification, when a new account cannot sign in
    before confirming either. Otherwise signup tells, as allauth's page does."""
    return allauth_settings.EMAIL_VERIFICATION == allauth_settings.EmailVerificationMethod.MANDATORY


def user_signup(*, request: HttpRequest, email: str, password: str, full_name: str = "") -> User:
    """Create an account as the signup page would, for a program (the API).

    The caller has validated the input (password through Django's validators; the email free in
    any case, unless user_signup_hides_accounts()). The email-verification setting applies as it
    does in the browser: unless it is "none", a confirmation email is sent, and with "mandatory"
    the account cannot get an API token until the address is confirmed. Then an address that
    has an account gets an unsaved User, looking like a new one, and its owner an email saying
    someone tried: the answer tells no one which addresses have accounts.
    """
    email = normalize_email_address(email)
    if user_signup_hides_accounts() and User.objects.filter(email__iexact=email).exists():
        get_adapter(request).send_account_already_exists_mail(email)
        return User(email=email, full_name=full_name.strip(), date_joined=timezone.now())
    with transaction.atomic():
        user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    if allauth_settings.EMAIL_VERIFICATION != allauth_settings.EmailVerificationMethod.NONE:
        address = EmailAddress.objects.get(user=user, primary=True)
        address.send_confirmation(request, signup=True)
    return user


def user_email_verified(*, user: User) -> bool:
    """Whether the user may sign in under the email-verification setting: always, unless it is
    "mandatory" and no address of theirs is confirmed."""
    if allauth_settings.EMAIL_VERIFICATION != allauth_settings.EmailVerificationMethod.MANDATORY:
        return True
    return EmailAddress.objects.filter(user=user, verified=True).exists()


def user_update_profile(*, user: User, full_name: str, time_zone: str) -> User:
    """Store the name and time zone the user chose (both already validated by the form)."""
    user.full_name = full_name.strip()
    user.time_zone = time_zone
    user.save(update_fields=["full_name", "time_zone"])
    return user


def user_change_email(*, request: HttpRequest, user: User, email: str) -> User:
    """Change the user's login address (validated by the caller: free in any case). The new
    address is unconfirmed; a confirmation is sent unless verification is off."""
    email = normalize_email_address(email)
    if email == user.email:
        return user
    with transaction.atomic():
        user.email = email
        user.save(update_fields=["email"])
        user_sync_primary_email(user=user)
    if allauth_settings.EMAIL_VERIFICATION != allauth_settings.EmailVerificationMethod.NONE:
        EmailAddress.objects.get(user=user, primary=True).send_confirmation(request)
    return user


def user_change_password(*, user: User, password: str) -> User:
    """Set a new password (validated here by Django's validators: ValidationError). The old one
    stops working at once; the user's API token stays, so a program that changed it keeps
    working."""
    validate_password(password, user=user)
    user.set_password(password)
    user.save(update_fields=["password"])
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


# --- API tokens ---------------------------------------------------------------------------------
# One token per user (DRF's authtoken): what programs send as `Authorization: Token <key>`.


def user_api_token(*, user: User) -> str | None:
    """The user's API token, None when they have none."""
    return Token.objects.filter(user=user).values_list("key", flat=True).first()


def user_api_token_create(*, user: User) -> str:
    """The user's API token, made now if they had none (asking twice gives the same token)."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def user_api_token_revoke(*, user: User) -> bool:
    """Revoke the user's API token: requests with it get 401 from now on. False when there was
    none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0


# --- Deactivation by staff ---------------------------------------------------------------------


def user_deactivate(*, user: User) -> bool:
    """Deactivate the account: its sessions end now, it cannot sign in by page, admin or API
    token (Django's backends and DRF refuse inactive users; the token is kept for when it is
    reactivated), and pricing neither registers nor syncs its products (Product.objects.active()).
    Returns False when it was inactive already."""
    changed = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    user.is_active = False
    # allauth's record of the sessions its logins opened: ending one deletes the session.
    for session in UserSession.objects.filter(user=user):
        session.end()
    return bool(changed)


def user_reactivate(*, user: User) -> bool:
    """Let the user sign in again (their old sessions stay ended); their products are registered
    and synced again from the next run. Returns False when it was active already."""
    changed = User.objects.filter(pk=user.pk, is_active=False).update(is_active=True)
    user.is_active = True
    return bool(changed)


def user_delete(*, user: User) -> None:
    """Delete the account and everything it owns (products, their offers and history cascade),
    in one transaction: when it fails (DatabaseError), nothing is deleted."""
    with transaction.atomic():
        # Their products locked before the cascade collects their rows: a sync storing offers
        # meanwhile either commits first (and its rows are deleted too) or finds them gone,
        # instead of failing this delete at commit with rows that point at nothing. In the order
        # of their ids, as a sync batch locks them: the two wait for each other, never deadlock.
        list(user.products.order_by("pk").select_for_update().values_list("pk", flat=True))
        user.delete()
