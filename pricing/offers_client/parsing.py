"""Validation of what the Offers service answers, before anything from it is used.

Pure functions over decoded bodies and tokens, apart from the client so they can be tested
without a server: a body not in the documented shape raises `ShapeError`, which the client turns
into `OffersProtocolError` with the URL and status; error bodies are only read for messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

import requests

# The model's columns: PositiveBigIntegerField and PositiveIntegerField (PostgreSQL integer).
MAX_PRICE = 2**63 - 1
MAX_STOCK = 2**31 - 1

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# What may go into a header value: visible ASCII, no whitespace.
_HEADER_SAFE_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")


@dataclass(frozen=True, slots=True)
class OfferData:
    """One offer as the service answered it, validated: price and stock are non-negative ints."""

    id: uuid.UUID
    price: int
    items_in_stock: int


class ShapeError(ValueError):
    """Why a body is not the documented shape; turned into OffersProtocolError with context.

    Raised here and caught only by the client: it never reaches callers of the package.
    """


# --- Answers --------------------------------------------------------------------------------------


def _strict_json(content: bytes) -> object:
    def refuse(name: str) -> object:
        raise ShapeError(f"{name} is not valid JSON")

    try:
        return json.loads(content, parse_constant=refuse)
    except ShapeError:
        raise
    except (ValueError, RecursionError) as error:  # includes JSONDecodeError, UnicodeDecodeError
        raise ShapeError("the body is not valid JSON") from error


def _uuid(value: object, where: str) -> uuid.UUID:
    if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
        raise ShapeError(f"{where} is {_short_repr(value)}, not a UUID")
    return uuid.UUID(value)


def _count(value: object, where: str, maximum: int) -> int:
    # type() rather than isinstance(): bool is an int subclass, and 10.0 is not an integer either.
    if type(value) is not int:
        raise ShapeError(f"{where} is {_short_repr(value)}, not an integer")
    if not 0 <= value <= maximum:
        raise ShapeError(f"{where} is {value}, outside 0..{maximum}")
    return value


def parse_offers(data: object, *, max_offers: int | None = None) -> list[OfferData]:
    """The offers in a decoded 200 body, in the service's order.

    Raises ValueError, saying what is wrong, unless `data` is a list of at most `max_offers`
    objects with a UUID `id` (unique in the list) and non-negative integer `price` and
    `items_in_stock` (bool and 10.0 are not integers); other keys are ignored.
    """
    if not isinstance(data, list):
        raise ShapeError(f"expected a JSON array of offers, got {type(data).__name__}")
    if max_offers is not None and len(data) > max_offers:
        raise ShapeError(
            f"it lists {len(data)} offers, more than the {max_offers} we accept (OFFERS_MAX_OFFERS)"
        )
    offers: list[OfferData] = []
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(data):
        where = f"offer [{index}]"
        if not isinstance(item, dict):
            raise ShapeError(f"{where} is {type(item).__name__}, not an object")
        missing = [key for key in ("id", "price", "items_in_stock") if key not in item]
        if missing:
            raise ShapeError(f"{where} lacks {', '.join(missing)}")
        offer = OfferData(
            id=_uuid(item["id"], f"{where}.id"),
            price=_count(item["price"], f"{where}.price", MAX_PRICE),
            items_in_stock=_count(item["items_in_stock"], f"{where}.items_in_stock", MAX_STOCK),
        )
        if offer.id in seen:  # one answer cannot hold the same offer twice
            raise ShapeError(f"{where}.id {offer.id} appears twice")
        seen.add(offer.id)
        offers.append(offer)
    return offers


def _parse_access_token(data: object) -> str:
    if not isinstance(data, dict) or "access_token" not in data:
        raise ShapeError('expected {"access_token": "<token>"}')
    token = data["access_token"]
    if not isinstance(token, str) or not _HEADER_SAFE_TOKEN.fullmatch(token):
        raise ShapeError("access_token is not a non-empty string of visible ASCII characters")
    return token


def _claimed_lifetime(token: str) -> float | None:
    """`expires - iat` from the JWT's claims, in seconds, or None if it carries no such pair.

    A duration rather than the absolute `expires`, so that a service clock behind ours cannot make
    us refresh before the token really expires (which earns a 400). Not verified: it can only
    shorten the lifetime we count ourselves, never lengthen it.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(claims, dict):
        return None
    expires, issued = claims.get("expires"), claims.get("iat")
    if not all(type(value) in (int, float) and math.isfinite(value) for value in (expires, issued)):
        return None
    lifetime = float(expires) - float(issued)  # type: ignore[arg-type]
    return lifetime if lifetime > 0 else None


def _register_answer_checker(product_id: uuid.UUID) -> Callable[[object], uuid.UUID]:
    def check(data: object) -> uuid.UUID:
        if not isinstance(data, dict) or "id" not in data:
            raise ShapeError('expected {"id": "<uuid>"}')
        answered = _uuid(data["id"], "id")
        if str(answered) != str(product_id).lower():
            raise ShapeError(f"it names product {answered}, not {product_id}")
        return answered

    return check


# --- Error bodies ---------------------------------------------------------------------------------


def error_detail(response: requests.Response) -> str:
    """A short, printable account of an error body, for messages only (never trusted as data).

    Understands `{"detail": "..."}`, `{"detail": [{"loc", "msg", ...}]}` and the older
    `{"code", "msg"}`; anything else becomes the status's reason phrase.
    """
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        data = None
    text = ""
    if isinstance(data, dict):
        detail = data.get("detail")
        if isinstance(detail, str):
            text = detail
        elif isinstance(detail, list):
            text = "; ".join(_validation_item(item) for item in detail[:5])
        elif isinstance(data.get("msg"), str):
            code = data.get("code")
            text = f"{code}: {data['msg']}" if isinstance(code, str) else data["msg"]
    if not text:
        text = _reason(response.status_code)
    return _printable(text, limit=300)


def _validation_item(item: object) -> str:
    if not isinstance(item, dict):
        return _short_repr(item)
    loc = item.get("loc")
    msg = item.get("msg")
    where = ".".join(str(part) for part in loc) if isinstance(loc, list) else ""
    message = msg if isinstance(msg, str) else _short_repr(item)
    return f"{where}: {message}" if where else message


def _printable(text: str, *, limit: int) -> str:
    # Error text comes from outside: no control characters in our logs, and not too much of it.
    cleaned = "".join(char if char.isprintable() else " " for char in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _short_repr(value: object) -> str:
    return _printable(repr(value), limit=60)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"
