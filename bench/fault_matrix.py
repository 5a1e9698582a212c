"""Benchmark: the fault matrix (issue 14) with a few hundred products, against real processes.

    .venv/bin/python bench/fault_matrix.py --database-url postgres://postgres@127.0.0.1:5432/postgres

For each fault the Offers simulator can inject (latency past the read timeout, 5xx bursts,
hangs, malformed bodies, forgotten registrations, tokens expiring early, the service down for a
while) and for a consumer killed with SIGKILL in the middle of a run, it syncs every product
through several intervals with two real Huey consumers, then checks that every run finished,
that every answer the simulator delivered was stored exactly once, that no two requests for one
product overlapped, and how long the products took to be healthy again. It prints a Markdown
table and exits with status 1 if any check failed.

It needs PostgreSQL (--database-url: a server where it may create and drop its own database)
and Redis (--redis-url: a database of its own, flushed at the start and the end). It starts its
own simulator and consumers and stops them whatever happens. The harness and its rules are in
pricing/tests/fault_matrix.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _setup import ROOT, setup_django, throwaway_database

FAULTS = ("latency", "errors", "hang", "malformed", "forget", "tokens", "down", "sigkill")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/fault_matrix.py",
        description=__doc__.split("\n\n")[0],
        epilog="Needs PostgreSQL and Redis running; the simulator and the consumers are its own. "
        f"Faults: {', '.join(FAULTS)}.",
    )
    parser.add_argument(
        "--products", type=int, default=200, help="products to sync (default: %(default)s)"
    )
    parser.add_argument(
        "--database-url",
        help="required: a PostgreSQL server (postgres://user@host:port/maintenance-db) where the "
        "benchmark creates its own database and drops it afterwards",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/15",
        help="the Redis database of the task queue; flushed at the start and the end, so give "
        "it one of its own (default: %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between sync runs (OFFERS_SYNC_INTERVAL; default: %(default)s)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help="comma-separated faults to run, in the table's order (default: all)",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="threads per consumer (default: %(default)s)"
    )
    parser.add_argument(
        "--fault-intervals",
        type=int,
        default=3,
        help="intervals each fault stays on (default: %(default)s)",
    )
    parser.add_argument(
        "--tick",
        type=float,
        default=1.0,
        help="the simulator's tick: how often offers change (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=14, help="simulator seed (default: 14)")
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="where the consumers' logs go (default: a temporary folder, kept if a check fails)",
    )
    args = parser.parse_args(argv)
    if args.database_url is None:
        parser.error(
            "--database-url is required: the matrix runs on PostgreSQL, as production does (two "
            "consumer processes writing at once), e.g. "
            "--database-url postgres://postgres@127.0.0.1:5432/postgres"
        )
    faults = tuple(name.strip() for name in args.faults.split(",") if name.strip())
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or not faults:
        parser.error(f"--faults: unknown {', '.join(unknown) or '(none given)'}")
    args.faults = tuple(name for name in FAULTS if name in faults)
    if args.products < 1 or args.workers < 1 or args.fault_intervals < 1 or args.interval <= 0:
        parser.error("--products, --workers and --fault-intervals must be >= 1, --interval > 0")
    return args


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="fault-matrix-", dir=ROOT / "var"))
    # Before Django reads its settings: the queue and the cache on the bench's own Redis db.
    os.environ["REDIS_URL"] = args.redis_url
    flush_redis(args.redis_url)
    started = time.monotonic()
    try:
        with throwaway_database(args.database_url, prefix="bench_faults") as database_url:
            setup_django(database_url=database_url)
            from pricing.tests.fault_matrix import MatrixConfig, run_fault_matrix

            config = MatrixConfig(
                products=args.products,
                interval=args.interval,
                workers=args.workers,
                fault_intervals=args.fault_intervals,
                tick=args.tick,
                seed=args.seed,
                faults=args.faults,
            )
            # As production runs them: persistent connections, INFO logs (setup_django set
            # CONN_MAX_AGE=0 and WARNING for this process).
            consumer_env = {**os.environ, "LOG_LEVEL": "INFO", "CONN_MAX_AGE": "60"}

            def progress(text: str) -> None:
                print(text, file=sys.stderr, flush=True)

            report = run_fault_matrix(
                config, consumer_env=consumer_env, log_dir=log_dir, progress=progress
            )
    finally:
        flush_redis(args.redis_url)
    print(f"\n{report.markdown()}\n\n{report.evidence()}\n\n{report.summary()}")
    print(f"\n{time.monotonic() - started:.0f} s in all, database setup included.")
    if report.passed:
        if args.log_dir is None:
            for log in log_dir.glob("*.log"):
                log.unlink()
            log_dir.rmdir()
        return 0
    print(f"Consumer logs: {log_dir}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
