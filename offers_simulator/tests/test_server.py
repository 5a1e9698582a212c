"""The server as a whole: command line, concurrency, keep-alive and garbage input."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from offers_simulator.__main__ import build_parser
from offers_simulator.testing import REPO_ROOT
from offers_simulator.tests.helpers import get_offers, is_offer_list, register


def test_help_documents_every_option():
    result = subprocess.run(
        [sys.executable, "-m", "offers_simulator", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    options = [
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    ]
    assert len(options) >= 16
    for option in options:
        assert option in result.stdout
    for path in ("/_control/faults", "/_control/reset", "/_control/served", "/api/v1/auth"):
        assert path in result.stdout


def test_announces_its_address_on_one_line(simulator):
    # run_simulator passes --port 0 and learns the real port from that line.
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", simulator.root_url)
    assert simulator.port > 0


def test_concurrent_clients_are_all_answered(simulator, token):
    products = [str(uuid.uuid4()) for _ in range(16)]
    with requests.Session() as http:
        for product_id in products:
            assert register(http, simulator, token, product_id).status_code == 201

    def client(product_id: str) -> list[int]:
        statuses = []
        with requests.Session() as http:
            for n in range(50):
                if n % 10 == 9:
                    response = register(http, simulator, token, str(uuid.uuid4()))
                    statuses.append(response.status_code == 201)
                else:
                    response = get_offers(http, simulator, token, product_id)
                    statuses.append(response.status_code == 200 and is_offer_list(response.json()))
        return statuses

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(client, products))
    assert all(all(statuses) for statuses in results)
    assert simulator.stats()["offers"] == {"200": 16 * 45}


def _raw(simulator, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400),
        (b"POST /api/v1/auth HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST /api/v1/auth HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400),
        (b"POST /api/v1/auth HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
        (b"POST /api/v1/auth HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"BREW /api/v1/auth HTTP/1.1\r\nConnection: close\r\n\r\n", 405),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    ],
)
def test_garbage_gets_a_4xx_and_the_server_lives_on(simulator, request_bytes, status):
    answer = _raw(simulator, request_bytes)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert requests.get(f"{simulator.root_url}/_control/state", timeout=5).status_code == 200


def test_http_1_0_client_is_answered(simulator):
    answer = _raw(simulator, b"GET /_control/state HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b'"registered"' in answer


def test_keep_alive_serves_many_requests_on_one_connection(simulator, token, product_id):
    request = (
        f"GET /api/v1/products/{product_id}/offers HTTP/1.1\r\nHost: x\r\nBearer: {token}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as connection:
        connection.sendall(
            request * 3
            + b"GET /_control/state HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 4
    assert data.count(b"Connection: close") == 1


def test_clients_hanging_up_mid_request_do_not_disturb_others(simulator, token, product_id):
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", simulator.port), timeout=5) as connection:
            connection.sendall(b"POST /api/v1/auth HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    with requests.Session() as http:
        assert get_offers(http, simulator, token, product_id).status_code == 200
