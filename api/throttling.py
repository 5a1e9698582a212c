"""Request rates per user and per client address, counted in the shared cache.

The rates are read at each request, not once when the class is defined (DRF's default), so that
a change of settings (a test's) applies at once.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class _RatesFromSettings:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]


class AnonThrottle(_RatesFromSettings, AnonRateThrottle):
    """Anonymous requests, per client address."""


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    """Authenticated requests, per user."""


class CredentialsThrottle(_RatesFromSettings, SimpleRateThrottle):
    """Signing up and exchanging a password for a token, per client address whoever is signed
    in: what slows down guessing passwords."""

    scope = "credentials"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
