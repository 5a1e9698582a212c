"""The shared access token across threads and real processes: one auth request per token lifetime.

Processes run `offers_client_worker.py` with the `subprocess_env` environment (the test database,
the simulator's URL and refresh token), so they share the token row with this test as web, worker
and shell processes do.
"""

import contextlib
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from offers_simulator.testing import run_simulator
from pricing.models import OffersAccessToken
from pricing.offers_client import OffersClient, OffersUnavailable, get_offers_client

WORKER = Path(__file__).with_name("offers_client_worker.py")


def run_workers(env: dict[str, str], *arg_lists: list[str], timeout: float = 120) -> list[dict]:
    """Runs one worker per argument list, all at once; returns their JSON reports.

    Fails the test, with the worker's stderr, if any exits non-zero (an unhandled exception).
    Output goes to files, not pipes: a full pipe would stall a worker in the middle of its run.
    """
    with contextlib.ExitStack() as files:
        runs = []
        for args in arg_lists:
            out = files.enter_context(tempfile.TemporaryFile("w+"))
            err = files.enter_context(tempfile.TemporaryFile("w+"))
            process = subprocess.Popen(
                [sys.executable, str(WORKER), *args], env=env, stdout=out, stderr=err, text=True
            )
            runs.append((process, out, err))
        reports = []
        for process, out, err in runs:
            process.wait(timeout=timeout)
            out.seek(0)
            err.seek(0)
            assert process.returncode == 0, f"worker exited {process.returncode}:\n{err.read()}"
            reports.append(json.loads(out.read().strip().splitlines()[-1]))
        return reports


def products_arg(products: list[uuid.UUID]) -> str:
    return ",".join(str(product) for product in products)


def run_in_threads(count: int, work) -> None:
    """Runs work(i) in `count` threads released together; re-raises the first failure."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as error:  # reported in the test's thread
            failures.append(error)
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if failures:
        raise failures[0]


# --- Threads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["one-shared-client", "a-client-per-thread"])
def test_eight_threads_calling_at_once_make_one_auth_request(
    transactional_db, offers_simulator, shared
):
    offers_simulator.set_faults(latency_ms=100)  # a wide window for the threads to collide in
    clients = [get_offers_client()] * 8 if shared else [OffersClient() for _ in range(8)]
    # The per-process client may have served earlier tests: count from here.
    auth_before = sum(client.stats.auth_requests for client in set(clients))

    run_in_threads(
        8,
        lambda i: clients[i].register_product(
            product_id=uuid.uuid4(), name=f"Product {i}", description=""
        ),
    )

    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 1}
    assert stats["register"] == {"201": 8}
    assert sum(client.stats.auth_requests for client in set(clients)) - auth_before == 1


def test_threads_that_all_get_401_replace_the_token_once(transactional_db, offers_simulator):
    client = OffersClient()
    products = [uuid.uuid4() for _ in range(8)]
    for product in products:
        client.register_product(product_id=product, name="Kettle", description="")
    offers_simulator.expire_tokens()
    offers_simulator.set_faults(latency_ms=100)

    run_in_threads(8, lambda i: OffersClient().get_offers(product_id=products[i]))

    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 2}  # the first token, and one replacement
    assert stats["offers"]["200"] == 8
    assert stats["offers"].get("401", 0) >= 1


# --- Real processes -------------------------------------------------------------------------------


def test_parent_uses_the_token_a_child_process_obtained(subprocess_env, offers_simulator):
    products = [uuid.uuid4() for _ in range(3)]

    [child] = run_workers(subprocess_env(), ["--register", "--products", products_arg(products)])
    assert child["auth_requests"] == 1 and child["errors"] == {}
    stored = OffersAccessToken.objects.get().token

    client = OffersClient()
    for product in products:
        client.get_offers(product_id=product)

    assert client.stats.auth_requests == 0
    assert OffersAccessToken.objects.get().token == stored
    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 1}
    assert stats["offers"] == {"200": 6}


def test_child_process_uses_the_token_the_parent_obtained(subprocess_env, offers_simulator):
    products = [uuid.uuid4() for _ in range(3)]
    client = OffersClient()
    for product in products:
        client.register_product(product_id=product, name="Kettle", description="")

    [child] = run_workers(subprocess_env(), ["--products", products_arg(products)])

    assert child["auth_requests"] == 0 and child["errors"] == {}
    assert child["calls"] == 3
    assert offers_simulator.stats()["auth"] == {"201": 1}


def test_two_processes_starting_together_make_one_auth_request(subprocess_env, offers_simulator):
    offers_simulator.set_faults(latency_ms=100)
    products = products_arg([uuid.uuid4() for _ in range(5)])
    start_at = str(time.time() + 3)  # after both have set Django up
    args = ["--register", "--products", products, "--rounds", "2", "--start-at", start_at]

    reports = run_workers(subprocess_env(), args, args)

    assert sum(report["auth_requests"] for report in reports) == 1
    assert all(report["errors"] == {} for report in reports)
    stats = offers_simulator.stats()
    assert stats["auth"] == {"201": 1}
    assert stats["register"] == {"201": 5, "409": 5}
    assert stats["offers"] == {"200": 20}


# --- Done when: two processes, 30 s, short tokens, 5 % of 503s, 200 ms latency --------------------

TOKEN_TTL = 5
RUN_SECONDS = 30


@pytest.mark.slow
def test_two_processes_fetching_for_30_s_ask_for_one_token_per_lifetime(subprocess_env, settings):
    with run_simulator(
        "--token-ttl",
        str(TOKEN_TTL),
        "--error-rate",
        "0.05",
        "--error-statuses",
        "503",
        "--latency-ms",
        "200",
    ) as simulator:
        settings.OFFERS_BASE_URL = simulator.base_url
        settings.OFFERS_REFRESH_TOKEN = simulator.refresh_token
        settings.OFFERS_TOKEN_TTL = TOKEN_TTL
        products = products_arg([uuid.uuid4() for _ in range(20)])
        start_at = str(time.time() + 3)
        # Both register the 20 products (201 or 409), then fetch their offers in turn.
        args = ["--register", "--products", products, "--seconds", str(RUN_SECONDS)]
        args += ["--start-at", start_at]

        reports = run_workers(subprocess_env(), args, args)
        stats = simulator.stats()

    duration = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    auth_requests = sum(stats["auth"].values())
    expected = math.ceil(duration / TOKEN_TTL)
    surfaced: dict[str, int] = {}
    for report in reports:
        for name, count in report["errors"].items():
            surfaced[name] = surfaced.get(name, 0) + count
    print(
        f"\ndone-when: {duration:.1f} s, 2 processes, "
        f"calls {[r['calls'] for r in reports]}, requests {[r['requests'] for r in reports]}, "
        f"retries {[r['retries'] for r in reports]}, "
        f"auth requests {[r['auth_requests'] for r in reports]} "
        f"(simulator: {stats['auth']}, expected {expected} ± 1), errors surfaced {surfaced}, "
        f"simulator offers {stats['offers']}, register {stats['register']}, "
        f"faults {stats['faults']}"
    )
    assert duration >= RUN_SECONDS
    assert "400" not in stats["auth"]
    assert abs(auth_requests - expected) <= 1
    assert sum(r["auth_requests"] for r in reports) == auth_requests
    # /auth is never retried, so a 503 there surfaces (once); everything else was retried away.
    assert set(surfaced) <= {OffersUnavailable.__name__}
    assert surfaced.get(OffersUnavailable.__name__, 0) <= stats["auth"].get("503", 0) + 1
    assert sum(r["retries"] for r in reports) > 0
