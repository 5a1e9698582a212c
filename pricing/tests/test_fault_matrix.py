"""The fault matrix (issue 14), short: every fault the simulator can inject, and a consumer
killed with SIGKILL, against real processes (the simulator over HTTP, two `run_huey` consumers,
PostgreSQL and Redis). The rules are in pricing/tests/fault_matrix.py; bench/fault_matrix.py runs
the same matrix with a few hundred products.

Most of its time is the SIGKILL case, which must wait out the killed run's lease (some 100 s
with these timeouts: pricing.services.sync_run_lease_seconds).
"""

import sys

import pytest
from django.conf import settings
from django.db import connection

from pricing.tests.fault_matrix import (
    MatrixConfig,
    _align,
    _delivered_data,
    _overlapping,
    run_fault_matrix,
)

SHORT = MatrixConfig(
    products=40,
    users=2,
    interval=2.0,
    consumers=2,
    workers=2,
    tick=0.5,
    baseline_intervals=1,
    lead_in_intervals=1,
    fault_intervals=2,
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_no_fault_loses_or_duplicates_an_answer_and_every_product_heals(subprocess_env, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip(
            "the fault matrix runs on PostgreSQL only (set DATABASE_URL): two consumer "
            "processes with threads write at once, which SQLite serialises"
        )
    if not settings.REDIS_URL:
        pytest.skip("the fault matrix needs the real queue, Redis (set REDIS_URL)")

    def progress(text: str) -> None:
        print(text, file=sys.stderr)  # shown with the failure, or with -s

    report = run_fault_matrix(
        SHORT, consumer_env=subprocess_env(), log_dir=tmp_path / "logs", progress=progress
    )

    print(f"\n{report.markdown()}\n\n{report.evidence()}\n\n{report.summary()}")
    assert [row.fault for row in report.rows] == [
        "setup",
        "baseline",
        "latency",
        "errors",
        "hang",
        "malformed",
        "forget",
        "tokens",
        "down",
        "sigkill",
    ]
    assert report.passed, report.failure_text()


# --- The rules the matrix judges by (pure functions, no processes) ------------------------------


def served(seq, received_at, sent_at, *, client_gone=False, figures=(1, 5, 100, 100)):
    count, stock, low, high = figures
    return {
        "seq": seq,
        "status": 200,
        "malformed": None,
        "received_at": received_at,
        "sent_at": sent_at,
        "client_gone": client_gone,
        "offer_count": count,
        "total_stock": stock,
        "min_price": low,
        "max_price": high,
    }


A, B, C, D = (1, 5, 100, 100), (2, 9, 90, 120), (0, 0, None, None), (3, 3, 80, 95)


def test_answers_stored_once_in_order_all_match():
    lost, duplicated, pairs = _align([A, B, C, C, D], [A, B, C, C, D])
    assert (lost, duplicated) == ([], [])
    assert pairs == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]


def test_an_answer_never_stored_is_lost_and_one_stored_twice_is_duplicated():
    assert _align([A, B, C, D], [A, C, D])[:2] == ([1], [])
    assert _align([A, B, C], [A, B, B, C])[:2] == ([], [2])
    # Stored from no answer at all.
    assert _align([A, B], [A, D, B])[:2] == ([], [1])


def test_answers_stored_out_of_order_count_as_lost_and_duplicated():
    lost, duplicated, pairs = _align([A, B, D], [A, D, B])
    assert (len(lost), len(duplicated), len(pairs)) == (1, 1, 2)


def test_requests_of_one_product_that_overlap_are_counted():
    entries = [served(1, 10.0, 10.1), served(2, 10.05, 10.2), served(3, 11.0, 11.1)]
    assert [(e["seq"], earlier["seq"]) for e, earlier in _overlapping(entries, 1.0)] == [(2, 1)]


def test_a_request_given_up_on_ends_when_the_client_stopped_waiting():
    # A hang: answered 3 s later to a client that gave up after its 1 s read timeout and
    # retried at once. The retry is not an overlap...
    hung = served(1, 10.0, 13.0, client_gone=True)
    retry = served(2, 11.0, 11.1)
    assert list(_overlapping([hung, retry], read_timeout=1.0)) == []
    # ...but another request while the client was still waiting is.
    meanwhile = served(3, 10.5, 10.6)
    assert [e["seq"] for e, _ in _overlapping([hung, meanwhile], read_timeout=1.0)] == [3]


def test_only_whole_200_answers_that_reached_the_client_count_as_delivered():
    assert _delivered_data(served(1, 1.0, 1.1))
    assert not _delivered_data(served(1, 1.0, 1.1, client_gone=True))
    assert not _delivered_data({**served(1, 1.0, 1.1), "malformed": "truncated"})
    assert not _delivered_data({**served(1, 1.0, 1.1), "status": 503})
