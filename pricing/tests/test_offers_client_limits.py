"""Limits on what one answer of the service may cost us: its size, its number of offers and the
time its body takes to arrive. A tiny server of our own sends what the simulator never would."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pricing.offers_client import OffersClient, OffersProtocolError, OffersUnavailable, parse_offers


class Misbehaving(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b"[]"
    chunked = False
    trickle = 0.0  # seconds between the bytes of the body

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # /auth: a token, always
        self._send(201, json.dumps({"access_token": "t0ken"}).encode())

    def do_GET(self):
        self._send(200, self.body)

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if self.chunked and status == 200:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 4096):
                piece = body[start : start + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.trickle and status == 200:
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(self.trickle)
            return
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that gave up: expected here
        pass


@pytest.fixture
def service(db):
    """Start the server with a handler configured by `**behaviour`; returns a client of it."""
    servers = []

    def start(**behaviour) -> OffersClient:
        handler = type("Handler", (Misbehaving,), behaviour)
        server = QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return OffersClient(
            base_url=f"http://127.0.0.1:{server.server_address[1]}/api/v1",
            refresh_token="refresh",
            read_timeout=0.5,
            retries=0,
            max_answer_bytes=10_000,
            max_offers=50,
        )

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def offers(count: int) -> bytes:
    return json.dumps(
        [{"id": str(uuid.uuid4()), "price": 100, "items_in_stock": 1} for _ in range(count)]
    ).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_answer_larger_than_the_limit_is_refused(service, chunked):
    client = service(body=b"[" + b" " * 20_000 + b"]", chunked=chunked)

    with pytest.raises(OffersProtocolError, match=r"more than 10000 bytes .*MAX_ANSWER_BYTES"):
        client.get_offers(product_id=uuid.uuid4())


def test_more_offers_than_the_limit_are_refused(service):
    client = service(body=offers(51))

    with pytest.raises(OffersProtocolError, match=r"51 offers, more than the 50 .*MAX_OFFERS"):
        client.get_offers(product_id=uuid.uuid4())
    assert len(service(body=offers(50)).get_offers(product_id=uuid.uuid4())) == 50


def test_parse_offers_counts_before_reading_any_offer():
    with pytest.raises(ValueError, match="3 offers, more than the 2"):
        parse_offers([None, None, None], max_offers=2)


def test_a_body_trickling_in_is_cut_off_after_the_read_timeout_in_all(service):
    # Each byte arrives well within the read timeout, so requests alone would wait for all of
    # them (40 × 0.05 s = 2 s); the client stops after 0.5 s in all.
    client = service(body=offers(1)[:40], trickle=0.05)
    started = time.monotonic()

    with pytest.raises(OffersUnavailable, match="took more than the read timeout"):
        client.get_offers(product_id=uuid.uuid4())
    assert time.monotonic() - started < 1.5


def test_an_answer_within_the_limits_keeps_its_connection_for_the_next_call(service):
    client = service(body=offers(3))
    for _ in range(3):
        assert len(client.get_offers(product_id=uuid.uuid4())) == 3
    pool = next(iter(client._session.adapters.values())).poolmanager.pools
    assert sum(p.num_connections for p in pool._container.values()) <= 2  # /auth and offers
