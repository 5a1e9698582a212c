"""Helpers of pricing's tests (not tests): the stored token."""

from pricing.models import OffersAccessToken


def stored_token() -> OffersAccessToken | None:
    return OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK).first()
