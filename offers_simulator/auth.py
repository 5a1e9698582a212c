"""Refresh and access tokens of the Offers simulator.

Access tokens look like JWTs (HS256, with an ``expires`` claim in UNIX time) but their validity is
tracked here, server-side, on the monotonic clock: a token is valid while it is in the store and
not expired, whatever its claims say. Each refresh token has at most one current access token; a
new one is refused while that one is valid, as the real service does.

Not thread-safe; the simulator calls it under its state lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Literal


class InvalidRefreshToken(Exception):
    pass


class AccessTokenStillValid(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenStore:
    def __init__(
        self,
        refresh_tokens: Iterable[str],
        *,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._refresh_tokens = frozenset(refresh_tokens)
        self._now = now
        self._wall = wall
        # A fresh key per process: old tokens never survive a restart, like a real deployment.
        self._secret = secrets.token_bytes(32)
        self._current: dict[str, str] = {}  # refresh token -> its latest access token
        self._expiry: dict[str, float] = {}  # access token -> monotonic expiry

    def issue(self, refresh_token: str, ttl: float) -> str:
        """A new access token valid for ``ttl`` seconds.

        Raises InvalidRefreshToken for an unknown refresh token, AccessTokenStillValid while the
        previous access token of this refresh token has not expired.
        """
        if refresh_token not in self._refresh_tokens:
            raise InvalidRefreshToken
        previous = self._current.get(refresh_token)
        if previous is not None and self.is_valid(previous):
            raise AccessTokenStillValid
        if previous is not None:
            self._expiry.pop(previous, None)
        token = self._sign(
            {
                "sub": hashlib.sha256(refresh_token.encode()).hexdigest()[:16],
                "iat": int(self._wall()),
                "expires": math.ceil(self._wall() + ttl),
                "jti": secrets.token_hex(8),
            }
        )
        self._current[refresh_token] = token
        self._expiry[token] = self._now() + ttl
        return token

    def is_valid(self, access_token: str) -> bool:
        return self.check(access_token) == "valid"

    def check(self, access_token: str) -> Literal["valid", "expired", "unknown"]:
        expiry = self._expiry.get(access_token)
        if expiry is None:
            return "unknown"
        return "valid" if self._now() < expiry else "expired"

    def expire_all(self) -> None:
        """Every issued access token expires now; new ones can be had at once."""
        now = self._now()
        for token in self._expiry:
            self._expiry[token] = now

    def forget_all(self) -> None:
        self._current.clear()
        self._expiry.clear()

    def _sign(self, claims: dict[str, object]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = hmac.new(self._secret, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"
