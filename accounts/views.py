"""The profile page (with the user's API token) and account deletion."""

import logging

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.forms import AccountDeleteForm, ProfileForm
from accounts.services import (
    user_api_token,
    user_api_token_create,
    user_api_token_revoke,
    user_delete,
    user_update_profile,
)

logger = logging.getLogger(__name__)


# The page shows the API token: no cache (shared or on disk) may keep a copy of it.
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_update_profile(
            user=request.user,
            full_name=form.cleaned_data["full_name"],
            time_zone=form.cleaned_data["time_zone"],
        )
        messages.success(request, "Your profile is saved.")
        return redirect("accounts:profile")
    context = {"form": form, "api_token": user_api_token(user=request.user)}
    return render(request, "accounts/profile.html", context)


@never_cache
@login_required
@require_POST
@vary_on_headers("HX-Request")
def api_token_create(request):
    user_api_token_create(user=request.user)
    return _api_token_changed(request, "Your API token is ready.")


@never_cache
@login_required
@require_POST
@vary_on_headers("HX-Request")
def api_token_revoke(request):
    if user_api_token_revoke(user=request.user):
        return _api_token_changed(request, "Your API token is revoked.")
    # Revoked already, in another tab say: the card still shows what is true now.
    return _api_token_changed(request, "You had no API token to revoke.", level=messages.INFO)


def _api_token_changed(request, message: str, *, level: int = messages.SUCCESS):
    """HTMX swaps the card in place; without JavaScript, back to the profile with a message."""
    if not request.htmx:
        messages.add_message(request, level, message)
        return redirect("accounts:profile")
    # The button just pressed is gone with the old card: `focus` moves focus into the new one
    # (htmx focuses [autofocus] content it swaps in) instead of leaving it on <body>.
    context = {"api_token": user_api_token(user=request.user), "focus": True}
    return render(request, "accounts/profile.html#api-token", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request):
    form = AccountDeleteForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            user_delete(user=request.user)
        except DatabaseError:
            # One transaction: nothing is gone, and the user is still signed in to try again.
            logger.exception("Deleting the account of user %s failed", request.user.pk)
            form.add_error(
                None,
                "Your account could not be deleted just now, and nothing was removed. "
                "Please try again in a moment.",
            )
        else:
            # Signed out only once the account is gone.
            logout(request)
            messages.success(request, "Your account and everything in it have been deleted.")
            return redirect("dashboard:landing")
    return render(request, "accounts/account-delete.html", {"form": form})
