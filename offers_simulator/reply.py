"""The answer of one request, independent of the HTTP plumbing that sends it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple


class OffersSummary(NamedTuple):
    """What a 200 offers answer holds, prices as sent; for the served log."""

    offer_count: int
    total_stock: int
    min_price: int | None  # None when there are no offers
    max_price: int | None


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    # Set on a 200 offers answer only; a malformed copy of it drops it (it is not what was sent).
    offers: OffersSummary | None = None


def json_reply(status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=headers)


def detail(status: int, message: str) -> Reply:
    """An error in the service's shape: ``{"detail": "..."}``."""
    return json_reply(status, {"detail": message})


def validation_error(*errors: tuple[list[str | int], str, str]) -> Reply:
    """A 422 in FastAPI's shape; each error is (loc, msg, type)."""
    return json_reply(
        422, {"detail": [{"loc": loc, "msg": msg, "type": kind} for loc, msg, kind in errors]}
    )


NOT_FOUND = detail(404, "Not Found")


def method_not_allowed(*allowed: str) -> Reply:
    return json_reply(
        405, {"detail": "Method Not Allowed"}, headers=(("Allow", ", ".join(allowed)),)
    )
