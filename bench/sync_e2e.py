"""Benchmark: the periodic sync end to end, with real processes, and what it costs.

    .venv/bin/python bench/sync_e2e.py --products 10000 --latency-ms 20

The question of "Sync at scale: 10,000 products a minute on two cores": does every periodic run
finish within its interval, and how much CPU and memory do the processes spend on it? It creates
--products products for one user and registers them with its own Offers simulator (not
measured: no latency during the registration), then starts --consumers real Huey consumers
(`manage.py run_huey --workers K`, one of them with the scheduler, the others --no-periodic) on
its own throwaway PostgreSQL database and its own Redis database, with OFFERS_SYNC_INTERVAL
--interval and everything else as the app sets it (DEBUG off, its CONN_MAX_AGE and log level).
The scheduler starts the runs (pricing.tasks.schedule_sync_runs); the benchmark waits for the
first --runs of them to finish. The simulator answers with --latency-ms of latency and a
one-day tick, so every answer is the same from the registration to the final check: the first
run finds every offer new, the later ones find nothing changed, as most periodic syncs do.

While the runs go on it samples, every second, from /proc: the CPU time (user + system, all
threads) and memory of each consumer, of the simulator, of the PostgreSQL backends of the
consumers' connections to this database (pg_stat_activity, told apart by the application name
PGAPPNAME gives them), of the PostgreSQL server's own processes (postmaster, checkpointer, WAL
writer, background writer, autovacuum: shared with any other database on the server) and of
redis-server (shared likewise). A backend that exits between two samples loses its last second;
its CPU time before that is kept.

Printed: each run's duration (finished_at − started_at, the database's clock), products per
second, synced/failed/skipped and whether it finished within the interval; then per process the
CPU seconds from the first run's start to the last run's end, as % of one core over that time
and while a run was in progress, and the peak memory; then the verdict. Before the verdict it
checks the end state, with the consumers stopped: every run synced every product and nothing
failed or was skipped, every product was synced by the last run, and every product's current
offers are what the simulator answers now (asked again through pricing's OffersClient). If not,
or if a run did not finish within --timeout, it prints the problems and exits with status 1.

It needs PostgreSQL (--database-url: a server where it creates its own database and drops it
afterwards) and Redis (--redis-url: a database of its own, flushed at the start and the end).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from _processes import (  # bench/ is on sys.path
    PG_SERVER,
    SAMPLE_EVERY,
    Consumer,
    Sampler,
    flush_redis,
    postgres_processes,
    redis_server_pid,
)
from _setup import ROOT, setup_django, throwaway_database
from sync import register_products

# Longer than any benchmark: the simulator's answers never change while it runs.
SIMULATOR_TICK_SECONDS = 86_400
# libpq names the consumers' connections after PGAPPNAME: how their backends are told apart.
CONSUMER_APP_NAME = "sync-e2e-consumer"

SIMULATOR = "Offers simulator"
PG_BACKENDS = "PostgreSQL: the consumers' backends"
REDIS = "redis-server *"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sync_e2e.py",
        description=__doc__.split("\n\n")[0],
        epilog="Needs PostgreSQL and Redis running; the simulator and the consumers are its own.",
    )
    parser.add_argument(
        "--products", type=int, default=10_000, help="products to sync (default: %(default)s)"
    )
    parser.add_argument(
        "--runs", type=int, default=10, help="sync runs to measure (default: %(default)s)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="seconds between sync runs (OFFERS_SYNC_INTERVAL; default: %(default)s)",
    )
    parser.add_argument(
        "--consumers",
        type=int,
        default=2,
        help="run_huey processes, the scheduler's included (default: %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="threads per consumer (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="OFFERS_SYNC_BATCH_SIZE of the consumers (default: the app's)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        help="OFFERS_SYNC_CONCURRENCY of the consumers (default: the app's)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=20.0,
        help="latency the simulator adds to every API request (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the simulator's world (default: 0)"
    )
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (postgres://user@host:port/maintenance-db) where the benchmark "
        "creates its own database and drops it afterwards (default: %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/5",
        help="the Redis database of the task queue and the cache; flushed at the start and the "
        "end, so give it one of its own (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds to wait for the runs to finish (default: twice the time the runs should "
        "take at one a minute or one an interval, whichever is longer, plus two minutes)",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="where the consumers' logs go (default: a temporary folder under var/, kept if a "
        "check fails)",
    )
    args = parser.parse_args(argv)
    if min(args.products, args.runs, args.consumers, args.workers) < 1:
        parser.error("--products, --runs, --consumers and --workers must be >= 1")
    if args.interval <= 0 or args.latency_ms < 0:
        parser.error("--interval must be > 0, --latency-ms >= 0")
    if any(value is not None and value < 1 for value in (args.batch_size, args.concurrency)):
        parser.error("--batch-size and --concurrency must be >= 1")
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL server: the consumers write at once")
    if args.timeout is None:
        args.timeout = 2 * args.runs * max(args.interval, 60.0) + 120
    return args


def consumer_environment(args: argparse.Namespace) -> dict[str, str]:
    """This process's environment (setup_django's database, simulator, DEBUG off and no .env;
    REDIS_URL), with the app's own connection age and log level, as in production."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OFFERS_SYNC_INTERVAL": f"{args.interval:g}"}
    for name in ("CONN_MAX_AGE", "LOG_LEVEL"):
        env.pop(name, None)
    if args.batch_size is not None:
        env["OFFERS_SYNC_BATCH_SIZE"] = str(args.batch_size)
    if args.concurrency is not None:
        env["OFFERS_SYNC_CONCURRENCY"] = str(args.concurrency)
    return env


# --- Measuring -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    runs: list  # the SyncRun rows, oldest first
    sampler: Sampler
    consumers: list[Consumer]
    problems: list[str] = field(default_factory=list)

    @property
    def finished(self) -> list:
        return [run for run in self.runs if run.finished_at is not None]


def measure(args: argparse.Namespace, *, simulator_pid: int, log_dir: Path) -> Measurement:
    """Start the consumers (the scheduler last, once the others are up), sample the processes
    and wait for `args.runs` runs to finish; stop the consumers."""
    from django.db import connection

    from pricing.times import database_now

    env = consumer_environment(args)
    consumers = [
        Consumer(
            index, scheduler=index == 0, workers=args.workers, env=env, app_name=CONSUMER_APP_NAME
        )
        for index in range(args.consumers)
    ]
    redis_pid = redis_server_pid(args.redis_url)
    database = connection.settings_dict["NAME"]

    def find() -> dict[str, set[int]]:
        found = {
            consumer.label: {consumer.process.pid} for consumer in consumers if consumer.process
        }
        found[SIMULATOR] = {simulator_pid}
        found.update(postgres_processes(database, {PG_BACKENDS: CONSUMER_APP_NAME}))
        found[REDIS] = {redis_pid} if redis_pid else set()
        return found

    sampler = Sampler(find, private_memory={PG_BACKENDS, PG_SERVER})
    measurement = Measurement(runs=[], sampler=sampler, consumers=consumers)
    scheduler, others = consumers[0], consumers[1:]
    try:
        with sampler:
            for consumer in others:
                consumer.start(log_dir)
                consumer.wait_until_started()
            # The first run starts as soon as the scheduler does, with every worker up.
            since = database_now()
            scheduler.start(log_dir)
            scheduler.wait_until_started()
            wait_for_runs(args, since=since, measurement=measurement)
    finally:
        for consumer in consumers:
            consumer.stop()
    if sampler.error is not None:
        measurement.problems.append(f"sampling the processes failed: {sampler.error!r}")
    return measurement


def wait_for_runs(args: argparse.Namespace, *, since: datetime, measurement: Measurement) -> None:
    """Poll the first `args.runs` runs started since `since` until they have all finished, a
    consumer died or the timeout passed; progress in products done over all the runs."""
    from tqdm import tqdm

    from pricing.models import SyncRun

    deadline = time.monotonic() + args.timeout
    total = args.runs * args.products
    with tqdm(total=total, desc="runs", unit="product", leave=False) as bar:
        while True:
            runs = list(SyncRun.objects.filter(started_at__gte=since).order_by("started_at"))
            measurement.runs = runs = runs[: args.runs]
            done = sum(r.products_synced + r.products_failed + r.products_skipped for r in runs)
            bar.update(min(done, total) - bar.n)
            finished = sum(run.finished_at is not None for run in runs)
            bar.set_postfix_str(f"{finished}/{args.runs} runs finished")
            if finished == args.runs:
                return
            if dead := [c for c in measurement.consumers if c.exited()]:
                for consumer in dead:
                    measurement.problems.append(
                        f"{consumer.label} exited with status {consumer.process.returncode}:\n"
                        f"{consumer.log_tail()}"
                    )
                return
            if time.monotonic() > deadline:
                measurement.problems.append(
                    f"only {finished} of {args.runs} runs finished within {args.timeout:.0f} s"
                )
                return
            time.sleep(1)


# --- The end state -------------------------------------------------------------------------------


def end_state_problems(measurement: Measurement, product_ids: list[uuid.UUID]) -> list[str]:
    """With the consumers stopped: every run synced every product, every product was synced by
    the last run and nothing failed, and the current offers are the simulator's answers."""
    from pricing.models import ProductTracking

    problems = []
    count = len(product_ids)
    for number, run in enumerate(measurement.runs, 1):
        figures = (
            run.products_total,
            run.products_synced,
            run.products_failed,
            run.products_skipped,
        )
        if run.finished_at is None:
            problems.append(f"run {number} (#{run.pk}) did not finish")
        elif figures != (count, count, 0, 0):
            problems.append(
                f"run {number} (#{run.pk}): total {run.products_total}, synced "
                f"{run.products_synced}, failed {run.products_failed}, skipped "
                f"{run.products_skipped}; expected all {count} synced"
                + (f"; errors, e.g. {next(iter(run.errors.items()))}" if run.errors else "")
            )
    if not measurement.runs:
        return [*problems, "no run started"]
    tracking = ProductTracking.objects.filter(pk__in=product_ids)
    stale = tracking.exclude(last_synced_at__gte=measurement.runs[-1].started_at).count()
    if stale:
        problems.append(f"{stale} products were not synced by the last run")
    failing = tracking.exclude(sync_failures=0, last_sync_error="").count()
    if failing:
        problems.append(f"{failing} products have a failed sync on record")
    problems.extend(offers_differences(product_ids))
    return problems


def offers_differences(product_ids: list[uuid.UUID]) -> list[str]:
    """Every product's current offers against what the simulator answers for it now."""
    from django.db import connections
    from tqdm import tqdm

    from pricing.models import Offer
    from pricing.offers_client import get_offers_client

    stored: dict[uuid.UUID, set[tuple]] = {product_id: set() for product_id in product_ids}
    rows = Offer.objects.filter(is_current=True, product_id__in=product_ids).values_list(
        "product_id", "offer_id", "price", "items_in_stock"
    )
    for product_id, *offer in rows:
        stored[product_id].add(tuple(offer))

    def difference(product_id: uuid.UUID) -> str | None:
        try:
            answer = get_offers_client().get_offers(product_id=product_id)
        except Exception as error:
            return f"product {product_id}: the simulator's offers could not be read: {error!r}"
        finally:
            connections.close_all()  # this thread's (the client reads the shared token)
        expected = {(offer.id, offer.price, offer.items_in_stock) for offer in answer}
        if stored[product_id] != expected:
            return (
                f"product {product_id}: {len(stored[product_id])} current offers stored, "
                f"the simulator answers {len(expected)}, "
                f"{len(stored[product_id] ^ expected)} differ"
            )
        return None

    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(
            tqdm(
                pool.map(difference, product_ids),
                total=len(product_ids),
                desc="checking offers",
                leave=False,
            )
        )
    problems = [problem for problem in found if problem is not None]
    if len(problems) > 10:
        problems = [*problems[:10], f"… and {len(problems) - 10} more products differ"]
    return problems


# --- Report --------------------------------------------------------------------------------------


def print_runs(args: argparse.Namespace, runs: list) -> None:
    print(
        f"{'run':>3}{'started':>10}{'seconds':>10}{'products/s':>12}{'synced':>9}{'failed':>8}"
        f"{'skipped':>9}  within {args.interval:g} s"
    )
    first = runs[0].started_at if runs else None
    for number, run in enumerate(runs, 1):
        started = f"+{(run.started_at - first).total_seconds():.0f} s"
        if run.finished_at is None:
            figures = f"{'—':>10}{'—':>12}"
            within = "did not finish"
        else:
            seconds = (run.finished_at - run.started_at).total_seconds()
            figures = f"{seconds:>10.1f}{run.products_synced / seconds:>12.1f}"
            within = "yes" if seconds <= args.interval else "no"
        print(
            f"{number:>3}{started:>10}{figures}{run.products_synced:>9,}"
            f"{run.products_failed:>8,}{run.products_skipped:>9,}  {within}"
        )


def print_processes(measurement: Measurement) -> None:
    sampler, finished = measurement.sampler, measurement.finished
    if not finished or len(sampler.samples) < 2:
        print("No CPU figures: no run finished while the processes were sampled.")
        return
    start = measurement.runs[0].started_at.timestamp()
    end = finished[-1].finished_at.timestamp()
    spans = [(run.started_at.timestamp(), run.finished_at.timestamp()) for run in finished]
    running = sum(stop - begin for begin, stop in spans)
    print(
        f"CPU from the first run's start to the last finished run's end ({end - start:.0f} s, "
        f"runs in progress for {running:.0f} s of it), sampled every {SAMPLE_EVERY:g} s; "
        f"this machine has {os.cpu_count()} cores."
    )
    print(
        f"{'process':<46}{'CPU s':>8}{'% of a core':>13}{'% while running':>17}{'peak memory':>13}"
    )
    groups = [consumer.label for consumer in measurement.consumers]
    groups += [SIMULATOR, PG_BACKENDS, PG_SERVER, REDIS]
    total = total_running = 0.0
    for group in groups:
        pids = sorted(sampler.pids.get(group, ()))
        if not pids:
            print(f"{group:<46}{'not visible from this machine':>51}")
            continue
        seconds = sampler.cpu_between(group, start, end)
        while_running = sum(sampler.cpu_between(group, begin, stop) for begin, stop in spans)
        total += seconds
        total_running += while_running
        name = f"{group}, pid {pids[0]}" if len(pids) == 1 else f"{group} ({len(pids)} pids)"
        print(
            f"{name:<46}{seconds:>8.1f}{100 * seconds / (end - start):>12.0f}%"
            f"{100 * while_running / running:>16.0f}%"
            f"{sampler.peak_memory.get(group, 0) / 2**20:>10.0f} MB"
        )
    print(
        f"{'all of the above':<46}{total:>8.1f}{100 * total / (end - start):>12.0f}%"
        f"{100 * total_running / running:>16.0f}%"
    )
    print(
        "Peak memory: VmHWM of each process; for PostgreSQL, the peak of the backends' private "
        "memory (RssAnon) summed: the shared buffers are in every backend's RSS.\n"
        "* shared with every other database on the server."
    )


def describe(args: argparse.Namespace, database: str) -> str:
    settings = [
        f"batch size {args.batch_size or 'the app’s'}",
        f"concurrency {args.concurrency or 'the app’s'}",
    ]
    return (
        f"{args.products:,} products of one user; {args.consumers} consumer(s) × "
        f"{args.workers} workers, one with the scheduler; interval {args.interval:g} s; "
        f"{', '.join(settings)}; simulator latency {args.latency_ms:g} ms; PostgreSQL "
        f"({database}, deleted afterwards), Redis {args.redis_url}."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        flush_redis(args.redis_url)
    except Exception as error:
        raise SystemExit(f"Redis at {args.redis_url} does not answer: {error}") from None
    # Before Django reads its settings: the queue and the cache on the benchmark's Redis db.
    os.environ["REDIS_URL"] = args.redis_url
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="sync-e2e-", dir=ROOT / "var"))
    log_dir.mkdir(parents=True, exist_ok=True)
    from offers_simulator.testing import run_simulator

    refresh_token = f"bench-{uuid.uuid4().hex}"
    simulator_args = ["--latency-ms", f"{args.latency_ms:g}", "--seed", str(args.seed)]
    # No served log: it would grow the simulator's memory with every answer.
    simulator_args += ["--tick", str(SIMULATOR_TICK_SECONDS), "--served-log-size", "0"]
    try:
        with (
            run_simulator(*simulator_args, refresh_token=refresh_token) as simulator,
            throwaway_database(args.database_url, prefix="bench_e2e") as database_url,
        ):
            setup_django(
                database_url=database_url,
                offers_url=simulator.base_url,
                refresh_token=refresh_token,
            )
            from django.db import connection

            database = connection.settings_dict["NAME"]
            print(f"Registering {args.products:,} products with the simulator …", file=sys.stderr)
            simulator.set_faults(latency_ms=0)  # the registration is not measured
            product_ids = register_products(args.products)
            simulator.set_faults(latency_ms=args.latency_ms)
            print(
                f"Starting {args.consumers} consumer(s); waiting for {args.runs} runs "
                f"(at most {args.timeout:.0f} s) …",
                file=sys.stderr,
            )
            measurement = measure(args, simulator_pid=simulator.process.pid, log_dir=log_dir)
            print("Checking the end state …", file=sys.stderr)
            simulator.set_faults(latency_ms=0)  # nor is the check
            problems = measurement.problems + end_state_problems(measurement, product_ids)
    finally:
        flush_redis(args.redis_url)

    print(f"\n{describe(args, database)}\n")
    print_runs(args, measurement.runs)
    print()
    print_processes(measurement)
    print()
    if problems:
        print(f"No verdict: {len(problems)} problem(s):")
        for problem in problems:
            print(f"- {problem}")
        print(f"Consumer logs: {log_dir}")
        return 1
    print(
        f"End state: every run synced all {args.products:,} products with no failure, the last "
        "run synced every product, and every product's current offers are the simulator's."
    )
    within = all(
        (run.finished_at - run.started_at).total_seconds() <= args.interval
        for run in measurement.runs
    )
    print(f"every run finished within the interval: {'yes' if within else 'no'}")
    if args.log_dir is None:
        for log in log_dir.glob("*.log"):
            log.unlink()
        log_dir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
