"""The client of the external Offers service (DESIGN §4; OpenAPI: offers_simulator/openapi.json).

Two operations — register a product, get a product's offers — plus `check()` for people setting
up a deployment. What it guarantees:

- **One access token for every process.** The service refuses a new token (400) while another is
  valid, so the token lives in the single `OffersAccessToken` row with its expiry (counted from
  when the 201 arrived) and is used until it expires or a call answers 401. Only the process that
  wins the `offers-access-token` lease asks for a new one; the others wait for it. No HTTP call is
  made inside a database transaction, so call these methods outside `transaction.atomic()`.
- **Bounded waits.** Every request has a connect and a read timeout. Connection errors and
  502/503/504 are retried with backoff by urllib3's `Retry` on register and offers (a repeated
  register answers 409, which is success); `/auth` and other 4xx are never retried.
- **Typed errors only.** Every failure is an `OffersError` subclass whose message says which URL
  and what to check; no `requests`/urllib3 exception escapes.
- **Validated answers.** Nothing from an answer is used unless it has the documented shape.

The refresh token is never logged; access tokens appear in logs only as a short fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from http import HTTPStatus
from typing import Any, Self
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from pricing.leases import lease_claim, lease_release
from pricing.models import OffersAccessToken

logger = logging.getLogger(__name__)

TOKEN_LEASE = "offers-access-token"
# On top of the connect and read timeouts of the one /auth request the lease holder makes, for
# the database writes around it.
TOKEN_LEASE_MARGIN = 5.0
# The model's columns: PositiveBigIntegerField and PositiveIntegerField (PostgreSQL integer).
MAX_PRICE = 2**63 - 1
MAX_STOCK = 2**31 - 1
RETRY_STATUSES = frozenset({502, 503, 504})

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# What may go into a header value: visible ASCII, no whitespace.
_HEADER_SAFE_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")


# --- Data and errors ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferData:
    """One offer as the service answered it, validated: price and stock are non-negative ints."""

    id: uuid.UUID
    price: int
    items_in_stock: int


@dataclass(frozen=True, slots=True)
class OffersCheckResult:
    """What `OffersClient.check()` learned. Times are aware datetimes in UTC; durations seconds."""

    base_url: str
    token_obtained: bool  # True: a new token was requested now; False: the stored one was reused
    token_obtained_at: datetime | None
    token_expires_at: datetime
    auth_seconds: float | None  # how long /auth took; None when the stored token was reused
    probe_url: str
    probe_status: int  # 404 for the random product id it asks about (the service is reachable)
    probe_seconds: float


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


class _ShapeError(ValueError):
    """Why a body is not the documented shape; turned into OffersProtocolError with context."""


# --- Validation of answers ------------------------------------------------------------------------


def _strict_json(content: bytes) -> object:
    def refuse(name: str) -> object:
        raise _ShapeError(f"{name} is not valid JSON")

    try:
        return json.loads(content, parse_constant=refuse)
    except _ShapeError:
        raise
    except (ValueError, RecursionError) as error:  # includes JSONDecodeError, UnicodeDecodeError
        raise _ShapeError("the body is not valid JSON") from error


def _uuid(value: object, where: str) -> uuid.UUID:
    if not isinstance(value, str) or not _CANONICAL_UUID.fullmatch(value):
        raise _ShapeError(f"{where} is {_short_repr(value)}, not a UUID")
    return uuid.UUID(value)


def _count(value: object, where: str, maximum: int) -> int:
    # type() rather than isinstance(): bool is an int subclass, and 10.0 is not an integer either.
    if type(value) is not int:
        raise _ShapeError(f"{where} is {_short_repr(value)}, not an integer")
    if not 0 <= value <= maximum:
        raise _ShapeError(f"{where} is {value}, outside 0..{maximum}")
    return value


def parse_offers(data: object) -> list[OfferData]:
    """The offers in a decoded 200 body, in the service's order.

    Raises ValueError, saying what is wrong, unless `data` is a list of objects with a UUID `id`
    (unique in the list) and non-negative integer `price` and `items_in_stock` (bool and 10.0 are
    not integers); other keys are ignored.
    """
    if not isinstance(data, list):
        raise _ShapeError(f"expected a JSON array of offers, got {type(data).__name__}")
    offers: list[OfferData] = []
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(data):
        where = f"offer [{index}]"
        if not isinstance(item, dict):
            raise _ShapeError(f"{where} is {type(item).__name__}, not an object")
        missing = [key for key in ("id", "price", "items_in_stock") if key not in item]
        if missing:
            raise _ShapeError(f"{where} lacks {', '.join(missing)}")
        offer = OfferData(
            id=_uuid(item["id"], f"{where}.id"),
            price=_count(item["price"], f"{where}.price", MAX_PRICE),
            items_in_stock=_count(item["items_in_stock"], f"{where}.items_in_stock", MAX_STOCK),
        )
        if offer.id in seen:  # one answer cannot hold the same offer twice
            raise _ShapeError(f"{where}.id {offer.id} appears twice")
        seen.add(offer.id)
        offers.append(offer)
    return offers


def _parse_access_token(data: object) -> str:
    if not isinstance(data, dict) or "access_token" not in data:
        raise _ShapeError('expected {"access_token": "<token>"}')
    token = data["access_token"]
    if not isinstance(token, str) or not _HEADER_SAFE_TOKEN.fullmatch(token):
        raise _ShapeError("access_token is not a non-empty string of visible ASCII characters")
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


def _fingerprint(token: str) -> str:
    # A JWT's prefix is its header, the same for every token: a hash tells tokens apart instead.
    return sha256(token.encode()).hexdigest()[:8]


# --- Counters -------------------------------------------------------------------------------------


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


# --- The stored token -----------------------------------------------------------------------------


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
    OffersAccessToken.objects.update_or_create(
        pk=OffersAccessToken.SINGLETON_PK,
        defaults={"token": token, "obtained_at": obtained_at, "expires_at": expires_at},
    )


# --- The client -----------------------------------------------------------------------------------


class OffersClient:
    """A client of the Offers service; safe to share between threads of one process.

    Arguments left None take the corresponding `settings.OFFERS_*` value, read at construction.
    Its methods make HTTP calls and short database writes: call them outside `atomic()`.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        refresh_token: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        token_ttl: float | None = None,
    ) -> None:
        def pick[T](value: T | None, setting: str) -> T:
            return getattr(settings, setting) if value is None else value

        self.base_url: str = pick(base_url, "OFFERS_BASE_URL").rstrip("/")
        self._refresh_token: str = pick(refresh_token, "OFFERS_REFRESH_TOKEN")
        self.connect_timeout = float(pick(connect_timeout, "OFFERS_CONNECT_TIMEOUT"))
        self.read_timeout = float(pick(read_timeout, "OFFERS_READ_TIMEOUT"))
        self.retries = int(pick(retries, "OFFERS_RETRIES"))
        self.backoff = float(pick(backoff, "OFFERS_RETRY_BACKOFF"))
        self.token_ttl = float(pick(token_ttl, "OFFERS_TOKEN_TTL"))
        for name in ("connect_timeout", "read_timeout", "token_ttl"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OffersClient: {name} must be > 0, not {getattr(self, name)}")
        if self.retries < 0 or self.backoff < 0:
            raise ValueError("OffersClient: retries and backoff must be >= 0")

        self.stats = OffersClientStats()
        self.token_lease_seconds = self.connect_timeout + self.read_timeout + TOKEN_LEASE_MARGIN
        self._auth_url = f"{self.base_url}/auth"
        self._session = self._build_session()

    def __repr__(self) -> str:
        return f"<OffersClient {self.base_url}>"

    def _build_session(self) -> requests.Session:
        retry = _CountingRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET", "POST"}),  # POST: a repeated register answers 409
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_max=10,
            raise_on_status=False,  # we map the final status ourselves
            retry_after_max=10,  # a Retry-After of hours must not hold a worker
        )
        retry.on_retry = lambda: self.stats.add("retries")
        session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": "product-aggregator"})
        session.mount(self.base_url, HTTPAdapter(max_retries=retry, pool_maxsize=16))
        # /auth is never repeated: a request that reached the service may have used up the one
        # token it will issue, and the repeat would answer 400. The longer prefix wins.
        session.mount(self._auth_url, HTTPAdapter(max_retries=Retry(total=0, read=False)))
        return session

    def close(self) -> None:
        self._session.close()

    # --- The operations ---------------------------------------------------------------------------

    def register_product(self, *, product_id: uuid.UUID, name: str, description: str) -> bool:
        """Register the product. True when the service registered it now (201), False when it
        already knew it (409); both mean it is registered.

        Raises OffersRejected (422: the service refused the data), and the errors of any call.
        """
        with self._operation():
            what = "POST /products/register"
            body = {"id": str(product_id), "name": name, "description": description}
            response = self._call("POST", f"{self.base_url}/products/register", what, body=body)
            status = response.status_code
            if status == 201:
                data = self._decode(response, what, _register_answer_checker(product_id))
                logger.debug("Registered product %s with the Offers service", data)
                return True
            if status == 409:
                logger.debug("The Offers service already knew product %s (409)", product_id)
                return False
            if status == 422:
                raise OffersRejected(
                    f"The Offers service at {self.base_url} refused to register product "
                    f"{product_id} (422): {error_detail(response)}. Check the product's id, "
                    "name and description."
                )
            raise self._unexpected(response, what)

    def get_offers(self, *, product_id: uuid.UUID) -> list[OfferData]:
        """The product's current offers, in the service's order (possibly none).

        Raises ProductNotRegistered (404: register it again), OffersRejected (422), and the
        errors of any call. A failure is never an empty list.
        """
        with self._operation():
            return self._get_offers(product_id)

    def check(self) -> OffersCheckResult:
        """Authenticate (reusing the stored token if it is still valid) and ask for the offers of
        a random product id: a 404 shows that the service is reachable and accepts our token.
        """
        with self._operation():
            in_use = self._token_for_call()
            probe_id = uuid.uuid4()
            probe_started = time.perf_counter()
            try:
                self._get_offers(probe_id)
                probe_status = 200
            except ProductNotRegistered:
                probe_status = 404
            probe_seconds = time.perf_counter() - probe_started
            # A 401 on the probe replaces the token: report the one that is stored now.
            stored = _read_stored_token()
            return OffersCheckResult(
                base_url=self.base_url,
                token_obtained=in_use.auth_seconds is not None or stored.token != in_use.token,
                token_obtained_at=stored.obtained_at or in_use.obtained_at,
                token_expires_at=stored.expires_at or in_use.expires_at,
                auth_seconds=in_use.auth_seconds,
                probe_url=self._offers_url(probe_id),
                probe_status=probe_status,
                probe_seconds=probe_seconds,
            )

    def _get_offers(self, product_id: uuid.UUID) -> list[OfferData]:
        what = f"GET /products/{product_id}/offers"
        response = self._call("GET", self._offers_url(product_id), what)
        status = response.status_code
        if status == 200:
            return self._decode(response, what, parse_offers)
        if status == 404:
            raise ProductNotRegistered(
                f"The Offers service at {self.base_url} does not know product {product_id} "
                f"(404: {error_detail(response)}). Register it again.",
                product_id=product_id,
            )
        if status == 422:
            raise OffersRejected(
                f"The Offers service at {self.base_url} refused the product id {product_id} "
                f"(422): {error_detail(response)}."
            )
        raise self._unexpected(response, what)

    def _offers_url(self, product_id: uuid.UUID) -> str:
        # Quoted: an id given as text that is not a UUID cannot add a query or a fragment.
        return f"{self.base_url}/products/{quote(str(product_id), safe='')}/offers"

    @contextmanager
    def _operation(self) -> Iterator[None]:
        self.stats.add("calls")
        try:
            yield
        except OffersError as error:
            self.stats.add_error(error)
            level = logging.INFO if isinstance(error, ProductNotRegistered) else logging.WARNING
            logger.log(level, "%s: %s", type(error).__name__, error)
            raise

    # --- One API call, with the shared token ------------------------------------------------------

    def _call(
        self, method: str, url: str, what: str, *, body: dict[str, Any] | None = None
    ) -> requests.Response:
        """One API request; a 401 gets one fresh token and one repeat, then fails."""
        token = self._token_for_call().token
        response = self._send(method, url, what, token=token, body=body)
        if response.status_code != 401:
            return response
        logger.info(
            "The Offers service answered 401 to %s (%s); replacing access token %s",
            what,
            error_detail(response),
            _fingerprint(token),
        )
        token = self._token_for_call(dead=token).token
        response = self._send(method, url, what, token=token, body=body)
        if response.status_code == 401:
            raise OffersAuthenticationFailed(
                f"The Offers service at {self.base_url} answered 401 to {what} even with a "
                f"freshly obtained access token ({error_detail(response)}). Check that "
                "OFFERS_BASE_URL and OFFERS_REFRESH_TOKEN belong to the same service."
            )
        return response

    def _send(
        self, method: str, url: str, what: str, *, token: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        self.stats.add("requests")
        started = time.perf_counter()
        response = self._request(method, url, what, headers={"Bearer": token}, json=body)
        logger.debug("%s → %s in %.3f s", what, response.status_code, time.perf_counter() - started)
        return response

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """The HTTP request, with every transport failure turned into OffersUnavailable."""
        try:
            return self._session.request(
                method,
                url,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                **kwargs,
            )
        except requests.Timeout as error:
            raise OffersUnavailable(
                f"The Offers service at {self.base_url} did not answer {what} in time "
                f"(connect timeout {self.connect_timeout:g} s, read timeout "
                f"{self.read_timeout:g} s: OFFERS_CONNECT_TIMEOUT, OFFERS_READ_TIMEOUT). It may "
                "be overloaded or unreachable; the next attempt may succeed."
            ) from error
        except requests.ConnectionError as error:
            raise OffersUnavailable(
                f"Could not reach the Offers service at {self.base_url} for {what}"
                f"{'' if url == self._auth_url else f' (after {self.retries} retries)'}: "
                f"{_cause(error)}. Check OFFERS_BASE_URL and that the service is running."
            ) from error
        except requests.RequestException as error:  # InvalidURL, ChunkedEncodingError, ...
            raise OffersUnavailable(
                f"The request {what} to the Offers service at {self.base_url} failed: "
                f"{type(error).__name__}: {_cause(error)}. Check OFFERS_BASE_URL."
            ) from error
        except Urllib3Error as error:  # requests re-raises a few of these unwrapped
            raise OffersUnavailable(
                f"The request {what} to the Offers service at {self.base_url} failed: "
                f"{type(error).__name__}: {_cause(error)}."
            ) from error

    def _decode[T](self, response: requests.Response, what: str, parse: Callable[[object], T]) -> T:
        try:
            return parse(_strict_json(response.content))
        except _ShapeError as error:
            raise OffersProtocolError(
                f"The Offers service at {self.base_url} answered {what} with "
                f"{response.status_code} but not in the documented shape: {error}. Nothing from "
                "the answer was used."
            ) from error

    def _unexpected(self, response: requests.Response, what: str) -> OffersUnavailable:
        status = response.status_code
        detail = error_detail(response)
        if 300 <= status < 400:
            hint = (
                f"It redirects to {_printable(response.headers.get('Location', '?'), limit=200)}:"
                " check OFFERS_BASE_URL (http or https, the /api/v1 path)."
            )
        elif status in (404, 405):
            hint = "Check OFFERS_BASE_URL: it should end with the API's path, such as /api/v1."
        elif status >= 500:
            # urllib3 leaves the Retry it used on the response: its history lists the repeats.
            retried = len(getattr(getattr(response.raw, "retries", None), "history", ()))
            hint = "The service is failing or overloaded"
            hint += f" (asked {retried + 1} times)." if retried else "."
            hint += " A later attempt may succeed."
        else:
            hint = "The contract does not document this answer."
        said = "" if detail == _reason(status) else f" ({detail})"
        return OffersUnavailable(
            f"The Offers service at {self.base_url} answered {what} with {status} "
            f"{_reason(status)}{said}. {hint}"
        )

    # --- The access token -------------------------------------------------------------------------

    def _token_for_call(self, *, dead: str | None = None) -> _TokenInUse:
        """A token to call with: the stored one while it is valid, else a new one.

        `dead` is a token a call just saw refused (401): it is replaced — unless another process
        has replaced it already — even though its stored expiry has not come.
        """
        return _read_stored_token().usable(dead=dead) or self._obtain_token(dead=dead)

    def _obtain_token(self, *, dead: str | None) -> _TokenInUse:
        """A new token from the service, asked for by one process at a time (the lease holder);
        the others wait for the holder to store it.
        """
        deadline = time.monotonic() + self.token_lease_seconds + 1
        pause = 0.02
        while True:
            holder = lease_claim(name=TOKEN_LEASE, seconds=self.token_lease_seconds)
            if holder is not None:
                try:
                    # The previous holder may have stored one between our read and our claim.
                    stored = _read_stored_token().usable(dead=dead)
                    return stored or self._request_token(dead=dead)
                finally:
                    lease_release(name=TOKEN_LEASE, holder=holder)
            if time.monotonic() > deadline:
                raise OffersUnavailable(
                    f"Another process has been obtaining an Offers access token from "
                    f"{self.base_url} for over {self.token_lease_seconds:g} s without storing "
                    "one. Try again shortly."
                )
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)
            stored = _read_stored_token().usable(dead=dead)
            if stored is not None:
                return stored

    def _request_token(self, *, dead: str | None) -> _TokenInUse:
        """POST /auth, once; store the token on 201. Only the token lease's holder calls this."""
        what = "POST /auth"
        if not self._refresh_token:
            raise OffersAuthenticationFailed(
                f"No refresh token for the Offers service at {self.base_url}: set "
                "OFFERS_REFRESH_TOKEN."
            )
        self.stats.add("auth_requests")
        started = time.perf_counter()
        response = self._request(
            "POST", self._auth_url, what, headers={"Bearer": self._refresh_token}
        )
        arrived = timezone.now()
        auth_seconds = time.perf_counter() - started
        status = response.status_code
        if status == 201:
            try:
                token = _parse_access_token(_strict_json(response.content))
            except _ShapeError as error:
                raise OffersProtocolError(
                    f"The Offers service at {self.base_url} answered POST /auth with 201 but not "
                    f"in the documented shape: {error}. Nothing was stored. The service may now "
                    "hold a token we could not read, and refuse new ones (400) until it expires "
                    f"(OFFERS_TOKEN_TTL, {self.token_ttl:g} s)."
                ) from error
            lifetime = self.token_ttl
            claimed = _claimed_lifetime(token)
            if claimed is not None and claimed < lifetime:
                lifetime = claimed
            expires_at = arrived + timedelta(seconds=lifetime)
            _store_token(token=token, obtained_at=arrived, expires_at=expires_at)
            logger.info(
                "Obtained Offers access token %s, valid until %s UTC",
                _fingerprint(token),
                f"{expires_at.astimezone(UTC):%H:%M:%S}",
            )
            return _TokenInUse(token, arrived, expires_at, auth_seconds)
        if status == 400:
            # Another valid token exists. Another process may have stored it meanwhile.
            stored = _read_stored_token().usable(dead=dead)
            if stored is not None:
                return stored
            until = (arrived + timedelta(seconds=self.token_ttl)).astimezone(UTC)
            raise OffersLockedOut(
                f"The Offers service at {self.base_url} refuses a new access token because "
                f"another one is still valid (400: {error_detail(response)}), and no usable "
                "token is stored here. Something else holds the current one (another deployment "
                "or a manual call with the same OFFERS_REFRESH_TOKEN), or OFFERS_TOKEN_TTL "
                f"({self.token_ttl:g} s) is shorter than the service's token lifetime. Calls are "
                f"locked out until {until:%H:%M:%S} UTC at the latest, when that token expires.",
                until=until,
            )
        if status in (401, 422):
            raise OffersAuthenticationFailed(
                f"The Offers service at {self.base_url} refused the refresh token "
                f"({status}: {error_detail(response)}). Check OFFERS_REFRESH_TOKEN."
            )
        raise self._unexpected(response, what)


def _register_answer_checker(product_id: uuid.UUID) -> Callable[[object], uuid.UUID]:
    def check(data: object) -> uuid.UUID:
        if not isinstance(data, dict) or "id" not in data:
            raise _ShapeError('expected {"id": "<uuid>"}')
        answered = _uuid(data["id"], "id")
        if str(answered) != str(product_id).lower():
            raise _ShapeError(f"it names product {answered}, not {product_id}")
        return answered

    return check


def _cause(error: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, e.g. "Connection refused"."""
    reason: BaseException = error
    for _ in range(5):
        inner = getattr(reason, "reason", None) or (reason.args[0] if reason.args else None)
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return _printable(str(reason) or type(reason).__name__, limit=200)


# --- One client per process -----------------------------------------------------------------------

_SETTINGS_USED = (
    "OFFERS_BASE_URL",
    "OFFERS_REFRESH_TOKEN",
    "OFFERS_CONNECT_TIMEOUT",
    "OFFERS_READ_TIMEOUT",
    "OFFERS_RETRIES",
    "OFFERS_RETRY_BACKOFF",
    "OFFERS_TOKEN_TTL",
)
_client_lock = threading.Lock()
_client: tuple[tuple[Any, ...], OffersClient] | None = None


def get_offers_client() -> OffersClient:
    """A per-process client (one requests.Session, so connections are reused), rebuilt when the
    OFFERS_* settings it was built from change (tests override them).
    """
    global _client
    key = tuple(getattr(settings, name) for name in _SETTINGS_USED)
    with _client_lock:
        if _client is None or _client[0] != key:
            # The old client is dropped, not closed: another thread may still be using it.
            _client = (key, OffersClient())
        return _client[1]
