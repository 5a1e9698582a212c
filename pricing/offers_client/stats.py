"""The counters of an Offers client, and the urllib3 `Retry` that feeds its `retries` counter.

Apart from the client because neither knows anything of the service: `OffersClientStats` is
thread-safe bookkeeping, and the retry policy only needs a callback to count what it grants.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Self

from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from pricing.offers_client.errors import OffersError


class OffersClientStats:
    """Counters of one client instance, safe to update and read from several threads.

    calls: operations (register_product, get_offers, check); requests: API requests sent to
    register/offers, not counting urllib3's retries; retries: those retries; auth_requests: POSTs
    to /auth; errors: OffersError subclasses raised to callers, by class name.
    """

    _COUNTERS = ("calls", "requests", "retries", "auth_requests")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self._COUNTERS, 0)
        self._errors: dict[str, int] = {}

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[counter] += amount

    def add_error(self, error: OffersError) -> None:
        name = type(error).__name__
        with self._lock:
            self._errors[name] = self._errors.get(name, 0) + 1

    @property
    def calls(self) -> int:
        return self._counts["calls"]

    @property
    def requests(self) -> int:
        return self._counts["requests"]

    @property
    def retries(self) -> int:
        return self._counts["retries"]

    @property
    def auth_requests(self) -> int:
        return self._counts["auth_requests"]

    @property
    def errors(self) -> dict[str, int]:
        with self._lock:
            return dict(self._errors)

    def as_dict(self) -> dict[str, Any]:
        """A consistent snapshot, ready for JSON."""
        with self._lock:
            return {**self._counts, "errors": dict(self._errors)}

    def __repr__(self) -> str:
        return f"OffersClientStats({self.as_dict()})"


class _CountingRetry(Retry):
    """urllib3's Retry, counting each retry it grants, and never repeating a read timeout.

    A service that did not answer within the read timeout is likely to do so again: repeating
    would multiply the wait by the number of retries, and the next sync comes anyway.
    """

    on_retry: Callable[[], None] | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def increment(self, *args: Any, **kwargs: Any) -> Self:
        error = kwargs.get("error")
        if isinstance(error, ReadTimeoutError):
            raise error
        retry = super().increment(*args, **kwargs)  # raises MaxRetryError when exhausted
        if self.on_retry is not None:
            self.on_retry()
        return retry
