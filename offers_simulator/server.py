"""The HTTP side of the Offers simulator: routing, faults, keep-alive, the control endpoint.

A ``ThreadingHTTPServer`` with one thread per connection and HTTP/1.1 keep-alive. Each answer is
written in a single ``send`` with a ``Content-Length``. Faults apply to ``/api/v1`` only; their
sleeps happen here, outside the simulator's lock, so a hanging request blocks nobody else.
Per-request logging is off unless ``log_requests`` is set (``--log``): it would cost more than
answering.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import traceback
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from offers_simulator.config import SettingsError
from offers_simulator.faults import error_reply, malformed_reply
from offers_simulator.reply import NOT_FOUND, Reply, detail, json_reply, method_not_allowed
from offers_simulator.simulator import Simulator

MAX_BODY_BYTES = 1 << 20
API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_control/"
_OFFERS_PATH = re.compile(r"/api/v1/products/([^/]+)/offers")
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


class _BadRequest(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


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
        path = unquote(self.path.partition("?")[0])
        try:
            if path.startswith(CONTROL_PREFIX):
                reply = self._control(path[len(CONTROL_PREFIX) :], body)
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                reply = self._api(path, body)
            else:
                reply = NOT_FOUND
        except Exception:  # a bug: say so loudly, but keep serving
            traceback.print_exc(file=sys.stderr)
            reply = detail(500, "Internal Server Error")
        self._send(reply)

    def _api(self, path: str, body: bytes) -> Reply:
        simulator = self.server.simulator
        bearer = self.headers.get("Bearer")
        endpoint, operation = self._route(path, bearer, body)
        plan, epoch = simulator.roll_faults()
        if plan.delay:
            time.sleep(plan.delay)
        malformed = False
        if plan.error_status is not None:
            # Answered before the request is processed: a failed call changed nothing.
            reply = error_reply(plan.error_status)
        else:
            reply = operation()
            if plan.malformed is not None and 200 <= reply.status < 300:
                reply = malformed_reply(reply, plan.malformed)
                malformed = True
        simulator.record(endpoint, reply.status, plan, epoch, malformed=malformed)
        return reply

    def _route(self, path: str, bearer: str | None, body: bytes) -> tuple[str, Callable[[], Reply]]:
        """The endpoint's name (for the counters) and the operation that answers it."""
        simulator = self.server.simulator
        method = self.command
        if path == API_PREFIX + "/auth":
            if method != "POST":
                return "auth", lambda: method_not_allowed("POST")
            return "auth", lambda: simulator.auth(bearer)
        if path == API_PREFIX + "/products/register":
            if method != "POST":
                return "register", lambda: method_not_allowed("POST")
            return "register", lambda: simulator.register(bearer, body)
        match = _OFFERS_PATH.fullmatch(path)
        if match:
            if method != "GET":
                return "offers", lambda: method_not_allowed("GET")
            return "offers", lambda: simulator.offers(bearer, match.group(1))
        return "other", lambda: NOT_FOUND

    def _control(self, action: str, body: bytes) -> Reply:
        simulator = self.server.simulator
        method = self.command
        if action in ("state", "stats"):
            if method != "GET":
                return method_not_allowed("GET")
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

    def _send(self, reply: Reply) -> None:
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
        self.wfile.write(head if self.command == "HEAD" else head + reply.body)
        if self.server.log_requests:
            self.log_request(reply.status, len(reply.body))

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
