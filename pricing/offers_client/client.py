"""The HTTP client of the Offers service: `OffersClient`, and one shared client per process.

What it guarantees is in the package's docstring. This module holds the HTTP side — requests,
retries, mapping statuses to errors, the POST /auth — and leaves validating answers to `parsing`,
the shared token to `tokens`, counting to `stats` and the error classes to `errors`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from pricing.leases import lease_claim
from pricing.offers_client.errors import (
    OffersAuthenticationFailed,
    OffersError,
    OffersLockedOut,
    OffersProtocolError,
    OffersRejected,
    OffersUnavailable,
    ProductNotRegistered,
)
from pricing.offers_client.parsing import (
    OfferData,
    ShapeError,
    _claimed_lifetime,
    _parse_access_token,
    _printable,
    _reason,
    _register_answer_checker,
    _strict_json,
    error_detail,
    parse_offers,
)
from pricing.offers_client.stats import OffersClientStats, _CountingRetry
from pricing.offers_client.tokens import (
    TOKEN_LEASE_MARGIN,
    TokenBinding,
    _fingerprint,
    _obtain_token,
    _read_stored_token,
    _store_lockout,
    _store_token,
    _TokenInUse,
)
from pricing.times import database_now

# The package's name, as before it was split into modules: log settings and searches still match.
logger = logging.getLogger(__package__)

RETRY_STATUSES = frozenset({502, 503, 504})
# The longest wait between two tries: the backoff's cap, and a Retry-After's (one of hours must
# not hold a worker).
RETRY_WAIT_MAX = 10
# During a lockout, one call in all processes asks for a token again this often, never released
# (it expires: a rate limit), so that the end of the other token is noticed without a POST /auth
# from every sync.
LOCKOUT_PROBE_LEASE = "offers-access-token-lockout-probe"
LOCKOUT_PROBE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class OffersAnswer:
    """One product's answer in `get_offers_many`: its offers, or the error in their place, and
    when it arrived (time.monotonic())."""

    offers: list[OfferData] | None
    error: OffersError | None
    arrived: float


@dataclass(frozen=True, slots=True)
class _Refused:
    """A call answered 401: its token must be replaced (by the thread that reads the database)."""

    detail: str


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
        max_answer_bytes: int | None = None,
        max_offers: int | None = None,
        concurrency: int | None = None,
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
        self.max_answer_bytes = int(pick(max_answer_bytes, "OFFERS_MAX_ANSWER_BYTES"))
        self.max_offers = int(pick(max_offers, "OFFERS_MAX_OFFERS"))
        self.concurrency = int(pick(concurrency, "OFFERS_SYNC_CONCURRENCY"))
        for name in ("connect_timeout", "read_timeout", "token_ttl", "max_answer_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"OffersClient: {name} must be > 0, not {getattr(self, name)}")
        if self.retries < 0 or self.backoff < 0:
            raise ValueError("OffersClient: retries and backoff must be >= 0")
        if self.concurrency < 1:
            raise ValueError(f"OffersClient: concurrency must be >= 1, not {self.concurrency}")

        self.stats = OffersClientStats()
        self.token_lease_seconds = self.connect_timeout + self.read_timeout + TOKEN_LEASE_MARGIN
        self._binding = TokenBinding.of(self.base_url, self._refresh_token)
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
            backoff_max=RETRY_WAIT_MAX,
            raise_on_status=False,  # we map the final status ourselves
            retry_after_max=RETRY_WAIT_MAX,
        )
        retry.on_retry = lambda: self.stats.add("retries")
        session = requests.Session()
        session.headers.update({"Accept": "application/json", "User-Agent": "product-aggregator"})
        # Kept-alive connections for every call in flight: a consumer's worker threads each run
        # a batch of `concurrency` calls at once.
        pool = HTTPAdapter(max_retries=retry, pool_maxsize=max(16, 4 * self.concurrency))
        session.mount(self.base_url, pool)
        # /auth is never repeated: a request that reached the service may have used up the one
        # token it will issue, and the repeat would answer 400. The longer prefix wins.
        session.mount(self._auth_url, HTTPAdapter(max_retries=Retry(total=0, read=False)))
        return session

    def close(self) -> None:
        self._session.close()

    def worst_case_seconds(self) -> float:
        """The longest one operation (register_product, get_offers) can take: a token to get,
        perhaps after waiting for another process's, then every try timing out (the read
        timeout bounds a whole body, not each read) with the longest wait between tries; twice,
        when a 401 makes it start again with a fresh token. What a lease on it must cover."""
        one_try = self.connect_timeout + self.read_timeout
        request = (self.retries + 1) * one_try + self.retries * RETRY_WAIT_MAX
        token = self.token_lease_seconds + 1 + one_try
        return 2 * (token + request)

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

    def get_offers_many(
        self,
        product_ids: Sequence[uuid.UUID],
        *,
        while_waiting: Callable[[], None] | None = None,
        every: float = 10.0,
    ) -> dict[uuid.UUID, OffersAnswer]:
        """Every product's offers (or the error in their place, as get_offers would raise it),
        `concurrency` calls at a time (OFFERS_SYNC_CONCURRENCY) over kept-alive connections.

        One access token serves them all: read once, and replaced once for all when a call
        answers 401 (a second 401 fails those products). Only the calling thread touches the
        database: the pool's threads make HTTP calls and nothing else. `while_waiting` is called
        in the calling thread every `every` seconds while calls are in flight (the sync renews
        its leases there). Never raises OffersError.
        """
        self.stats.add("calls", len(product_ids))
        answers: dict[uuid.UUID, OffersAnswer] = {}
        todo, dead = list(product_ids), None
        with ThreadPoolExecutor(
            max_workers=max(1, min(self.concurrency, len(todo))), thread_name_prefix="offers"
        ) as pool:
            while todo:
                try:
                    token = self._token_for_call(dead=dead).token
                except OffersError as error:
                    answers.update(dict.fromkeys(todo, OffersAnswer(None, error, time.monotonic())))
                    break
                futures = {pool.submit(self._fetch_offers, pk, token): pk for pk in todo}
                refused, pending, waited = [], set(futures), time.monotonic()
                while pending:
                    done, pending = wait(pending, timeout=every, return_when=FIRST_COMPLETED)
                    for future in done:
                        answer = future.result()
                        if isinstance(answer, _Refused):
                            refused.append((futures[future], answer.detail))
                        else:
                            answers[futures[future]] = answer
                    if while_waiting is not None and time.monotonic() - waited >= every:
                        while_waiting()
                        waited = time.monotonic()
                if refused and dead is not None:
                    for product_id, detail in refused:
                        what = f"GET /products/{product_id}/offers"
                        error = self._refused_fresh_token(what, detail)
                        answers[product_id] = OffersAnswer(None, error, time.monotonic())
                    break
                todo, dead = [product_id for product_id, _ in refused], token
        for answer in answers.values():
            if answer.error is not None:
                self._note_error(answer.error)
        return answers

    def _fetch_offers(self, product_id: uuid.UUID, token: str) -> OffersAnswer | _Refused:
        """In a pool thread: one product's offers with `token`, or _Refused (401) for the calling
        thread to replace the token."""
        what = f"GET /products/{product_id}/offers"
        try:
            response = self._send("GET", self._offers_url(product_id), what, token=token)
            if response.status_code == 401:
                return _Refused(error_detail(response))
            offers = self._offers_from(response, product_id, what)
        except OffersError as error:
            return OffersAnswer(None, error, time.monotonic())
        return OffersAnswer(offers, None, time.monotonic())

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
            stored = _read_stored_token(self._binding)
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
        return self._offers_from(response, product_id, what)

    def _offers_from(
        self, response: requests.Response, product_id: uuid.UUID, what: str
    ) -> list[OfferData]:
        """The offers in an answer to GET offers, or the error its status means."""
        status = response.status_code
        if status == 200:
            return self._decode(
                response, what, lambda data: parse_offers(data, max_offers=self.max_offers)
            )
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
            self._note_error(error)
            raise

    def _note_error(self, error: OffersError) -> None:
        self.stats.add_error(error)
        level = logging.INFO if isinstance(error, ProductNotRegistered) else logging.WARNING
        logger.log(level, "%s: %s", type(error).__name__, error)

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
            raise self._refused_fresh_token(what, error_detail(response))
        return response

    def _refused_fresh_token(self, what: str, detail: str) -> OffersAuthenticationFailed:
        return OffersAuthenticationFailed(
            f"The Offers service at {self.base_url} answered 401 to {what} even with a "
            f"freshly obtained access token ({detail}). Check that OFFERS_BASE_URL and "
            "OFFERS_REFRESH_TOKEN belong to the same service."
        )

    def _send(
        self, method: str, url: str, what: str, *, token: str, body: dict[str, Any] | None = None
    ) -> requests.Response:
        self.stats.add("requests")
        started = time.perf_counter()
        response = self._request(method, url, what, headers={"Bearer": token}, json=body)
        logger.debug("%s → %s in %.3f s", what, response.status_code, time.perf_counter() - started)
        return response

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        """The HTTP request, its body read (`_read_body`), with every transport failure turned
        into OffersUnavailable."""
        try:
            response = self._session.request(
                method,
                url,
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
                stream=True,  # the body is read by _read_body, within its limits
                **kwargs,
            )
            self._read_body(response, what)
            return response
        except (requests.Timeout, ReadTimeoutError) as error:  # the latter: reading the body
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

    def _read_body(self, response: requests.Response, what: str) -> None:
        """Read the body into `response.content`: at most OFFERS_MAX_ANSWER_BYTES, and within
        the read timeout in all (requests' read timeout is per read, so a service sending a
        byte at a time could otherwise hold a worker, and outlast its lease, for ever)."""
        declared = response.headers.get("Content-Length", "")
        too_large = OffersProtocolError(
            f"The Offers service at {self.base_url} answered {what} with more than "
            f"{self.max_answer_bytes} bytes (OFFERS_MAX_ANSWER_BYTES). Nothing from the answer "
            "was used."
        )
        if declared.isdigit() and int(declared) > self.max_answer_bytes:
            response.close()
            raise too_large
        deadline = time.monotonic() + self.read_timeout
        body = bytearray()
        # read1: what has arrived, in one read (each bounded by the read timeout), decoded.
        while chunk := response.raw.read1(64 * 1024, decode_content=True):
            body += chunk
            if len(body) > self.max_answer_bytes:
                response.close()  # not worth reading to the end to keep the connection
                raise too_large
            if time.monotonic() > deadline:
                response.close()
                raise OffersUnavailable(
                    f"The Offers service at {self.base_url} took more than the read timeout "
                    f"({self.read_timeout:g} s, OFFERS_READ_TIMEOUT) to send its answer to "
                    f"{what}. It may be overloaded; the next attempt may succeed."
                )
        response.raw.release_conn()  # read to its end: the connection can serve the next call
        # What requests would have stored itself without stream=True.
        response._content = bytes(body)

    def _decode[T](self, response: requests.Response, what: str, parse: Callable[[object], T]) -> T:
        try:
            return parse(_strict_json(response.content))
        except ShapeError as error:
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

        During a stored lockout, OffersLockedOut at once, without asking the service: only one
        call per LOCKOUT_PROBE_SECONDS, in all processes, asks again (the other token may have
        ended before the latest time we assumed).
        """
        stored = _read_stored_token(self._binding)
        usable = stored.usable(dead=dead)
        if usable is not None:
            return usable
        locked_until = stored.locked_out_until
        if locked_until is not None and not lease_claim(
            name=LOCKOUT_PROBE_LEASE, seconds=LOCKOUT_PROBE_SECONDS
        ):
            raise self._locked_out(locked_until, detail="")
        return _obtain_token(
            binding=self._binding,
            dead=dead,
            lease_seconds=self.token_lease_seconds,
            base_url=self.base_url,
            request_token=lambda: self._request_token(dead=dead),
            locked_out=lambda until: self._locked_out(until, detail=""),
        )

    def _locked_out(self, until: datetime, *, detail: str) -> OffersLockedOut:
        until = until.astimezone(UTC)
        said = f" (400: {detail})" if detail else ""
        return OffersLockedOut(
            f"The Offers service at {self.base_url} refuses a new access token because "
            f"another one is still valid{said}, and no usable token is stored here. Something "
            "else holds the current one (another deployment or a manual call with the same "
            f"OFFERS_REFRESH_TOKEN), or OFFERS_TOKEN_TTL ({self.token_ttl:g} s) is shorter than "
            "the service's token lifetime. No new token is asked for until "
            f"{until:%H:%M:%S} UTC, when that token has expired at the latest.",
            until=until,
        )

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
        arrived = database_now()
        auth_seconds = time.perf_counter() - started
        status = response.status_code
        if status == 201:
            try:
                token = _parse_access_token(_strict_json(response.content))
            except ShapeError as error:
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
            _store_token(
                binding=self._binding, token=token, obtained_at=arrived, expires_at=expires_at
            )
            logger.info(
                "Obtained Offers access token %s, valid until %s UTC",
                _fingerprint(token),
                f"{expires_at.astimezone(UTC):%H:%M:%S}",
            )
            return _TokenInUse(token, arrived, expires_at, auth_seconds)
        if status == 400:
            # Another valid token exists. Another process may have stored it meanwhile.
            stored = _read_stored_token(self._binding).usable(dead=dead)
            if stored is not None:
                return stored
            until = arrived + timedelta(seconds=self.token_ttl)
            _store_lockout(binding=self._binding, until=until)
            raise self._locked_out(until, detail=error_detail(response))
        if status in (401, 422):
            raise OffersAuthenticationFailed(
                f"The Offers service at {self.base_url} refused the refresh token "
                f"({status}: {error_detail(response)}). Check OFFERS_REFRESH_TOKEN."
            )
        raise self._unexpected(response, what)


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
    "OFFERS_MAX_ANSWER_BYTES",
    "OFFERS_MAX_OFFERS",
    "OFFERS_SYNC_CONCURRENCY",
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
