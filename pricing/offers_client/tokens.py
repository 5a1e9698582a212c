"""The access token shared by every process, and how one process at a time replaces it.

The service refuses a new token (400) while another is valid, so there is exactly one: the
`OffersAccessToken` row, with its expiry as we count it. When it has to be replaced, the process
that wins the `offers-access-token` lease asks the service (through the client's callback) and the
others wait for the row to change.

The row is bound to the service's base URL and a fingerprint of the refresh token that obtained
it (`TokenBinding`): a client configured for another service, or with another refresh token (a
rotated one, or a wrong one), finds no token and must obtain its own. The expiry and a lockout
(the service refused a new token) are judged by the database's clock, so every process agrees.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from django.db.models import Q
from django.db.models.functions import Now

from pricing.leases import lease_claim, lease_release
from pricing.models import OffersAccessToken
from pricing.offers_client.errors import OffersUnavailable

TOKEN_LEASE = "offers-access-token"
# On top of the connect and read timeouts of the one /auth request the lease holder makes, for
# the database writes around it.
TOKEN_LEASE_MARGIN = 5.0


@dataclass(frozen=True, slots=True)
class TokenBinding:
    """Which service, and which refresh token, a stored token was obtained from."""

    base_url: str
    refresh_token_fingerprint: str

    @classmethod
    def of(cls, base_url: str, refresh_token: str) -> TokenBinding:
        digest = sha256(refresh_token.encode()).hexdigest()[:32] if refresh_token else ""
        return cls(base_url, digest)


@dataclass(frozen=True, slots=True)
class _StoredToken:
    token: str
    obtained_at: datetime | None
    expires_at: datetime | None
    valid: bool = False  # not expired, by the database's clock
    locked_out_until: datetime | None = None  # set while a lockout lasts (the database's clock)

    def usable(self, *, dead: str | None = None) -> _TokenInUse | None:
        """This token, if present, not expired by our count, and not `dead` (refused by a 401)."""
        if not self.token or self.token == dead or not self.valid or self.expires_at is None:
            return None
        return _TokenInUse(self.token, self.obtained_at, self.expires_at, auth_seconds=None)


_NO_TOKEN = _StoredToken(token="", obtained_at=None, expires_at=None)


@dataclass(frozen=True, slots=True)
class _TokenInUse:
    token: str
    obtained_at: datetime | None
    expires_at: datetime
    auth_seconds: float | None  # set when this process requested it just now


def _read_stored_token(binding: TokenBinding) -> _StoredToken:
    """The stored token, if it was obtained for `binding`; else none."""
    row = (
        OffersAccessToken.objects.filter(
            pk=OffersAccessToken.SINGLETON_PK,
            base_url=binding.base_url,
            refresh_token_fingerprint=binding.refresh_token_fingerprint,
        )
        .annotate(valid=Q(expires_at__gt=Now()), locked=Q(locked_out_until__gt=Now()))
        .values_list("token", "obtained_at", "expires_at", "valid", "locked_out_until", "locked")
        .first()
    )
    if row is None:
        return _NO_TOKEN
    token, obtained_at, expires_at, valid, locked_out_until, locked = row
    return _StoredToken(
        token, obtained_at, expires_at, bool(valid), locked_out_until if locked else None
    )


def _store_token(
    *, binding: TokenBinding, token: str, obtained_at: datetime, expires_at: datetime
) -> None:
    """Store a new token for `binding`; a lockout recorded before it is over."""
    OffersAccessToken.objects.update_or_create(
        pk=OffersAccessToken.SINGLETON_PK,
        defaults={
            "token": token,
            "obtained_at": obtained_at,
            "expires_at": expires_at,
            "locked_out_until": None,
            "base_url": binding.base_url,
            "refresh_token_fingerprint": binding.refresh_token_fingerprint,
        },
    )


def _store_lockout(*, binding: TokenBinding, until: datetime) -> None:
    """Record that the service refuses `binding` a new token until `until` (aware) at the latest:
    the client asks no more until then, and staff see it. A stored token of the same binding is
    left as it is; one of another binding is dropped (it is not ours, and the row is)."""
    if not OffersAccessToken.objects.filter(
        pk=OffersAccessToken.SINGLETON_PK,
        base_url=binding.base_url,
        refresh_token_fingerprint=binding.refresh_token_fingerprint,
    ).update(locked_out_until=until):
        OffersAccessToken.objects.update_or_create(
            pk=OffersAccessToken.SINGLETON_PK,
            defaults={
                "token": "",
                "obtained_at": None,
                "expires_at": None,
                "locked_out_until": until,
                "base_url": binding.base_url,
                "refresh_token_fingerprint": binding.refresh_token_fingerprint,
            },
        )


def _obtain_token(
    *,
    binding: TokenBinding,
    dead: str | None,
    lease_seconds: float,
    base_url: str,
    request_token: Callable[[], _TokenInUse],
    locked_out: Callable[[datetime], Exception],
) -> _TokenInUse:
    """A new token from the service, asked for by one process at a time (the lease holder);
    the others wait for the holder to store it.

    `request_token` makes the one POST /auth and stores its token; only the holder calls it.
    A waiter that sees the holder store a lockout instead raises `locked_out(until)`.
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
                stored = _read_stored_token(binding).usable(dead=dead)
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
        stored = _read_stored_token(binding)
        usable = stored.usable(dead=dead)
        if usable is not None:
            return usable
        if stored.locked_out_until is not None:
            raise locked_out(stored.locked_out_until)


def _fingerprint(token: str) -> str:
    # A JWT's prefix is its header, the same for every token: a hash tells tokens apart instead.
    return sha256(token.encode()).hexdigest()[:8]
