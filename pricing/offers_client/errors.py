"""The errors of the Offers client: every failure a caller sees is one of these.

A module of its own so that parsing, the token store and the client can all raise them, and so
that callers can catch them without knowing which part of the client failed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class OffersError(Exception):
    """Base of every error of the Offers client; str(error) is a message a person can act on."""


class OffersAuthenticationFailed(OffersError):
    """The service refused our refresh token, or a call still got 401 after one fresh token."""


class OffersLockedOut(OffersError):
    """The service refuses a new token (400: another is valid) and none is stored here.

    `until` (aware, UTC) is when the other token has expired at the latest.
    """

    def __init__(self, message: str, *, until: datetime) -> None:
        super().__init__(message)
        self.until = until

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only arguments need help to pickle
        return _rebuild_error, (type(self), str(self), {"until": self.until})


class OffersUnavailable(OffersError):
    """Connection errors, timeouts, 5xx (after the retries) and statuses the contract lacks."""


class ProductNotRegistered(OffersError):
    """404 on GET offers: the service does not know the product (it can lose registrations)."""

    def __init__(self, message: str, *, product_id: uuid.UUID) -> None:
        super().__init__(message)
        self.product_id = product_id

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_error, (type(self), str(self), {"product_id": self.product_id})


class OffersRejected(OffersError):
    """422 on register or offers: the service refused our data; the message has its detail."""


class OffersProtocolError(OffersError):
    """An answer not in the documented shape; nothing from it was used or stored."""


def _rebuild_error(cls: type[OffersError], message: str, kwargs: dict[str, Any]) -> OffersError:
    return cls(message, **kwargs)  # type: ignore[call-arg]
