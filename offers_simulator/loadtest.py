"""Measure how many ``GET .../offers`` requests per second a running simulator answers.

    taskset -c 0 python -m offers_simulator --port 8001 &
    taskset -c 1 python -m offers_simulator.loadtest --url http://127.0.0.1:8001

Each client is a process with one keep-alive connection (so the client's GIL is not the limit).
It takes an access token with ``--refresh-token``; if the simulator answers 400 (a token is still
valid) it expires tokens through the control endpoint first. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence


def _post(url: str, headers: dict[str, str], body: object = None) -> tuple[int, bytes]:
    data = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        headers = {**headers, "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _access_token(root: str, refresh_token: str) -> str:
    status, body = _post(f"{root}/api/v1/auth", {"Bearer": refresh_token})
    if status == 400:
        _post(f"{root}/_control/expire-tokens", {}, {})  # the control endpoint wants JSON
        status, body = _post(f"{root}/api/v1/auth", {"Bearer": refresh_token})
    if status != 201:
        sys.exit(f"loadtest: POST /api/v1/auth answered {status}: {body[:200]!r}")
    return json.loads(body)["access_token"]


def _client(
    root: str, token: str, products: list[str], seconds: float, results: multiprocessing.Queue
) -> None:
    parts = urllib.parse.urlsplit(root)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    n = 0
    while (started := time.monotonic()) < deadline:
        product_id = products[n % len(products)]
        n += 1
        connection.request(
            "GET", f"/api/v1/products/{product_id}/offers", headers={"Bearer": token}
        )
        response = connection.getresponse()
        response.read()
        latencies.append(time.monotonic() - started)
        failures += response.status != 200
    connection.close()
    results.put((latencies, failures))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m offers_simulator.loadtest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8001", help="the simulator's root URL")
    parser.add_argument("--refresh-token", default="dev-refresh-token", help="a refresh token")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to run (default: 5)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default: 4)")
    parser.add_argument(
        "--products", type=int, default=100, help="products registered and polled (default: 100)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.url.rstrip("/")
    token = _access_token(root, args.refresh_token)
    products = [str(uuid.uuid4()) for _ in range(args.products)]
    for product_id in products:
        body = {"id": product_id, "name": "load test", "description": ""}
        status, _ = _post(f"{root}/api/v1/products/register", {"Bearer": token}, body)
        if status != 201:
            sys.exit(f"loadtest: register answered {status}")
    results: multiprocessing.Queue = multiprocessing.Queue()
    clients = [
        multiprocessing.Process(target=_client, args=(root, token, products, args.seconds, results))
        for _ in range(args.clients)
    ]
    for client in clients:
        client.start()
    outcomes = [results.get() for _ in clients]
    for client in clients:
        client.join()
    latencies = sorted(latency for client_latencies, _ in outcomes for latency in client_latencies)
    failures = sum(client_failures for _, client_failures in outcomes)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{len(latencies) / args.seconds:,.0f} requests/s over {args.seconds:g} s with "
        f"{args.clients} clients; {failures} not 200; latency p50 {quantiles[49] * 1000:.2f} ms, "
        f"p99 {quantiles[98] * 1000:.2f} ms"
    )
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
