"""The HTTP side of the Offers simulator: routing, faults, keep-alive, the control endpoint.

A ``ThreadingHTTPServer`` with one thread per connection and HTTP/1.1 keep-alive. Each answer is
written in a single ``send`` with a ``Content-Length``. Faults apply to ``/api/v1`` only; their
sleeps happen here, outside the simulator's lock, so a hanging request blocks nobody else. The
``down`` fault closes an API connection without answering, as a load balancer in front of a
service that is down may: the client gets a connection error. Every answer to
``GET /api/v1/products/{id}/offers`` goes to the served log (``GET /_control/served``) once it
has been written to the socket; one that ``down`` hung up on is logged with status 0.

The control endpoint changes what the simulator does, so a web page open in the developer's
browser must not reach it. Every control request must carry one ``Host`` header naming a loopback
address (``127.0.0.1``, ``localhost`` or ``[::1]``, any port), or it is refused with 403: that
defeats DNS rebinding. A POST must also be ``Content-Type: application/json`` (415 otherwise):
an HTML form cannot send that, and a cross-site ``fetch`` that does needs a CORS preflight, which
is never granted.

Per-request logging is off unless ``log_requests`` is set (``--log``): it would cost more than
answering.
"""

from __future__ import annotations

import json
import re
import select
import socket
import sys
import time
import traceback
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from offers_simulator.config import SettingsError
from offers_simulator.faults import error_reply, malformed_reply
from offers_simulator.reply import (
    NOT_FOUND,
    OffersSummary,
    Reply,
    detail,
    json_reply,
    method_not_allowed,
)
from offers_simulator.served import MAX_PAGE, Served
from offers_simulator.simulator import Simulator

MAX_BODY_BYTES = 1 << 20
API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_control/"
_OFFERS_PATH = re.compile(r"/api/v1/products/([^/]+)/offers")
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
# The host part compared whole (so not "localhost.example.com"); host names ignore case.
_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?", re.IGNORECASE)


class _BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def names_loopback(host_headers: list[str] | None) -> bool:
    """True if there is exactly one ``Host`` header and it names a loopback address."""
    if not host_headers or len(host_headers) != 1:
        return False
    return _LOOPBACK_HOST.fullmatch(host_headers[0].strip()) is not None


def is_json(content_type_headers: list[str] | None) -> bool:
    """True if there is exactly one ``Content-Type`` and it is application/json (any parameters)."""
    if not content_type_headers or len(content_type_headers) != 1:
        return False
    return content_type_headers[0].partition(";")[0].strip().lower() == "application/json"


def _query_int(params: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    values = params.get(name)
    if values is None:
        return default
    text = values[-1]
    if len(values) != 1 or not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name} must be one integer from {low} to {high}")
    return int(text)


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for hanging requests on shutdown
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], simulator: Simulator, *, log_requests: bool = False
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.simulator = simulator
        self.log_requests = log_requests
        super().__init__(address, SimulatorHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


class SimulatorHandler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "offers-simulator"
    disable_nagle_algorithm = True
    timeout = 120  # seconds an idle keep-alive connection may hold its thread
    received_at = 0.0  # UNIX time the current request was parsed at

    def handle_one_request(self) -> None:
        # BaseHTTPRequestHandler's version, but every method goes to one dispatcher (no 501s).
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.received_at = time.time()
            self._dispatch()
        except OSError:  # idle timeout, or the client went away (e.g. gave up on a hang)
            self.close_connection = True

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BadRequest as bad:
            self.close_connection = True  # the rest of the stream cannot be trusted
            self._send(bad.reply)
            return
        path, _, query = self.path.partition("?")
        path = unquote(path)
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._api(path, body)
            return
        try:
            if path.startswith(CONTROL_PREFIX):
                reply = self._control(path[len(CONTROL_PREFIX) :], query, body)
            else:
                reply = NOT_FOUND
        except Exception:  # a bug: say so loudly, but keep serving
            traceback.print_exc(file=sys.stderr)
            reply = detail(500, "Internal Server Error")
        self._send(reply)

    def _api(self, path: str, body: bytes) -> None:
        """Answers an API request with its faults applied, or hangs up (the ``down`` fault)."""
        simulator = self.server.simulator
        endpoint, operation, offers_of = self._route(path, self.headers.get("Bearer"), body)
        plan, epoch = simulator.roll_faults()
        if plan.down:
            self.close_connection = True  # handle() then closes the socket: no answer at all
            simulator.record(endpoint, 0, plan, epoch, malformed=False)
            if offers_of is not None:
                # Logged before the socket closes: a client that saw the error finds it there.
                simulator.record_served(None, epoch, self._served_entry(offers_of, status=0))
            return
        if plan.delay:
            time.sleep(plan.delay)
        malformed = None
        if plan.error_status is not None:
            # Answered before the request is processed: a failed call changed nothing.
            reply = error_reply(plan.error_status)
        else:
            try:
                reply = operation()
            except Exception:  # a bug: say so loudly, but keep serving
                traceback.print_exc(file=sys.stderr)
                reply = detail(500, "Internal Server Error")
            if plan.malformed is not None and 200 <= reply.status < 300:
                reply = malformed_reply(reply, plan.malformed)
                malformed = plan.malformed
        ticket = simulator.record(
            endpoint,
            reply.status,
            plan,
            epoch,
            malformed=malformed is not None,
            logged=offers_of is not None,
        )
        if offers_of is None:
            self._send(reply)
            return
        client_gone = write_failed = True
        try:
            client_gone = self._client_gone()
            write_failed = not self._send(reply)
        finally:
            entry = self._served_entry(
                offers_of,
                status=reply.status,
                delay=plan.delay,
                malformed=malformed,
                write_failed=write_failed,
                client_gone=client_gone or write_failed,
                offers=reply.offers,
            )
            simulator.record_served(ticket, epoch, entry)

    def _served_entry(
        self,
        product_id: str,
        *,
        status: int,
        delay: float = 0.0,
        malformed: str | None = None,
        write_failed: bool = False,
        client_gone: bool = False,
        offers: OffersSummary | None = None,
    ) -> Served:
        # seq 0: the log numbers entries as it records them.
        return Served(
            0,
            product_id,
            status,
            received_at=self.received_at,
            sent_at=time.time(),
            delay=delay,
            malformed=malformed,
            write_failed=write_failed,
            client_gone=client_gone,
            offers=offers,
        )

    def _route(
        self, path: str, bearer: str | None, body: bytes
    ) -> tuple[str, Callable[[], Reply], str | None]:
        """The endpoint's name (for the counters), the operation that answers it, and for
        ``GET .../offers`` (the served log) the product id as asked."""
        simulator = self.server.simulator
        method = self.command
        if path == API_PREFIX + "/auth":
            if method != "POST":
                return "auth", lambda: method_not_allowed("POST"), None
            return "auth", lambda: simulator.auth(bearer), None
        if path == API_PREFIX + "/products/register":
            if method != "POST":
                return "register", lambda: method_not_allowed("POST"), None
            return "register", lambda: simulator.register(bearer, body), None
        match = _OFFERS_PATH.fullmatch(path)
        if match:
            if method != "GET":
                return "offers", lambda: method_not_allowed("GET"), None
            product_id = match.group(1)
            return "offers", lambda: simulator.offers(bearer, product_id), product_id
        return "other", lambda: NOT_FOUND, None

    def _client_gone(self) -> bool:
        """True if the client has closed its end (gave up waiting, say); never blocks.

        Writing a small answer to such a socket usually succeeds (the kernel takes it), so the
        served log asks before writing.
        """
        if not hasattr(select, "poll"):
            return False
        poller = select.poll()
        poller.register(self.connection, select.POLLIN)
        if not poller.poll(0):
            return False  # nothing to read: the client is waiting for us
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""  # else: its next request
        except OSError:  # reset
            return True

    def _control(self, action: str, query: str, body: bytes) -> Reply:
        if not names_loopback(self.headers.get_all("Host")):
            return detail(403, "The control endpoint needs a Host of 127.0.0.1, localhost or [::1]")
        method = self.command
        if method == "POST" and not is_json(self.headers.get_all("Content-Type")):
            return detail(415, "Control requests must be sent as Content-Type: application/json")
        simulator = self.server.simulator
        if action == "products" or action.startswith("products/"):
            if method != "GET":
                return method_not_allowed("GET")
            if action == "products":
                return json_reply(200, {"products": simulator.products()})
            info = simulator.product(action.removeprefix("products/"))
            if info is None:
                return detail(404, "Product ID has not been registered")
            return json_reply(200, info)
        if action in ("state", "stats", "served"):
            if method != "GET":
                return method_not_allowed("GET")
            if action == "served":
                return self._served(query)
            return json_reply(200, simulator.state() if action == "state" else simulator.stats())
        if action not in ("faults", "forget-registrations", "expire-tokens", "reset"):
            return NOT_FOUND
        if method != "POST":
            return method_not_allowed("POST")
        if action == "faults":
            try:
                changes = json.loads(body or b"{}")
            except (ValueError, RecursionError):
                return detail(422, "body must be a JSON object")
            if not isinstance(changes, dict):
                return detail(422, "body must be a JSON object")
            try:
                return json_reply(200, simulator.update_settings(changes))
            except SettingsError as error:
                return detail(422, str(error))
        if action == "forget-registrations":
            simulator.forget_registrations()
        elif action == "expire-tokens":
            simulator.expire_tokens()
        else:
            simulator.reset()
        return json_reply(200, simulator.state())

    def _served(self, query: str) -> Reply:
        params = parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(params) - {"after", "limit"})
        if unknown:
            return detail(422, f"unknown parameter(s): {', '.join(unknown)}")
        try:
            after = _query_int(params, "after", 0, 0, 2**63)
            limit = _query_int(params, "limit", MAX_PAGE, 1, MAX_PAGE)
        except ValueError as error:
            return detail(422, str(error))
        return json_reply(200, self.server.simulator.served(after=after, limit=limit))

    def _read_body(self) -> bytes:
        """Reads the whole request body, so the next request on the connection starts clean."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BadRequest(detail(400, "Invalid Content-Length")) from None
        if length < 0:
            raise _BadRequest(detail(400, "Invalid Content-Length"))
        if length > MAX_BODY_BYTES:
            raise _BadRequest(detail(413, "Request body too large"))
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(detail(400, "Invalid chunked body")) from None
            if size < 0:
                raise _BadRequest(detail(400, "Invalid chunked body"))
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequest(detail(413, "Request body too large"))
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _send(self, reply: Reply) -> bool:
        """Writes ``reply``; False if that failed (the client has gone; the connection closes)."""
        lines = [
            f"{self.protocol_version} {reply.status} {_PHRASES.get(reply.status, 'Unknown')}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head if self.command == "HEAD" else head + reply.body)
        except OSError:  # broken pipe, reset, a client that stopped reading
            self.close_connection = True
            return False
        if self.server.log_requests:
            self.log_request(reply.status, len(reply.body))
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Called by parse_request() for a broken request line or headers: answer in JSON.
        status = int(code)
        self.close_connection = True
        if not getattr(self, "command", None):
            self.command = ""
        self._send(detail(status, message or _PHRASES.get(status, "Error")))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    # Formatting the date costs more than the rest of the headers: once a second is enough.
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
