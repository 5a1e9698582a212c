"""The access token shared by every process, and how one process at a time replaces it.

The service refuses a new token (400) while another is valid, so there is exactly one: the
`OffersAccessToken` row, with its expiry as we count it. When it has to be replaced, the process
that wins the `offers-access-token` lease asks the service (through the client's callback) and the
others wait for the row to change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from django.utils import timezone

from pricing.leases import lease_claim, lease_release
from pricing.models import OffersAccessToken
from pricing.offers_client.errors import OffersUnavailable

TOKEN_LEASE = "offers-access-token"
# On top of the connect and read timeouts of the one /auth request the lease holder makes, for
# the database writes around it.
TOKEN_LEASE_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class _StoredToken:
    token: str
    obtained_at: datetime | None
    expires_at: datetime | None

    def usable(self, *, dead: str | None = None) -> _TokenInUse | None:
        """This token, if present, not expired by our count, and not `dead` (refused by a 401)."""
        if not self.token or self.token == dead or self.expires_at is None:
            return None
        if timezone.now() >= self.expires_at:
            return None
        return _TokenInUse(self.token, self.obtained_at, self.expires_at, auth_seconds=None)


_NO_TOKEN = _StoredToken(token="", obtained_at=None, expires_at=None)


@dataclass(frozen=True, slots=True)
class _TokenInUse:
    token: str
    obtained_at: datetime | None
    expires_at: datetime
    auth_seconds: float | None  # set when this process requested it just now


def _read_stored_token() -> _StoredToken:
    row = (
        OffersAccessToken.objects.filter(pk=OffersAccessToken.SINGLETON_PK)
        .values_list("token", "obtained_at", "expires_at")
        .first()
    )
    return _StoredToken(*row) if row else _NO_TOKEN


def _store_token(*, token: str, obtained_at: datetime, expires_at: datetime) -> None:
    """Store a new token; a lockout recorded before it is over."""
    OffersAccessToken.objects.update_or_create(
        pk=OffersAccessToken.SINGLETON_PK,
        defaults={
            "token": token,
            "obtained_at": obtained_at,
            "expires_at": expires_at,
            "locked_out_until": None,
        },
    )


def _store_lockout(*, until: datetime) -> None:
    """Record, for staff, that the service refuses a new token until `until` (aware) at the
    latest. Only that field is written: the row is created without a token if there is none,
    and a stored token is left as it is."""
    OffersAccessToken.objects.update_or_create(
        pk=OffersAccessToken.SINGLETON_PK, defaults={"locked_out_until": until}
    )


def _obtain_token(
    *,
    dead: str | None,
    lease_seconds: float,
    base_url: str,
    request_token: Callable[[], _TokenInUse],
) -> _TokenInUse:
    """A new token from the service, asked for by one process at a time (the lease holder);
    the others wait for the holder to store it.

    `request_token` makes the one POST /auth and stores its token; only the holder calls it.
    `dead` is a token a call just saw refused (401): while it is the stored one, it counts as
    none, even though its stored expiry has not come.
    """
    deadline = time.monotonic() + lease_seconds + 1
    pause = 0.02
    while True:
        holder = lease_claim(name=TOKEN_LEASE, seconds=lease_seconds)
        if holder is not None:
            try:
                # The previous holder may have stored one between our read and our claim.
                stored = _read_stored_token().usable(dead=dead)
                return stored or request_token()
            finally:
                lease_release(name=TOKEN_LEASE, holder=holder)
        if time.monotonic() > deadline:
            raise OffersUnavailable(
                f"Another process has been obtaining an Offers access token from {base_url} "
                f"for over {lease_seconds:g} s without storing one. Try again shortly."
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)
        stored = _read_stored_token().usable(dead=dead)
        if stored is not None:
            return stored


def _fingerprint(token: str) -> str:
    # A JWT's prefix is its header, the same for every token: a hash tells tokens apart instead.
    return sha256(token.encode()).hexdigest()[:8]
