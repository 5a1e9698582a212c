"""Load test: signed-in people browsing the dashboard while the periodic sync runs.

    .venv/bin/python bench/load.py                  # 50 users × 20 products, 120 s of load
    .venv/bin/python bench/load.py --duration 300 --web-workers 5

Issue 16: --users people (default 50), each signed in to an account of their own with
--products-per-user products (default 20: 1,000 in all), browse the overview and their product
pages with the pages' htmx polling (bench/load_users.py says what a person does), driven by
locust on loopback, while the sync runs over every product once a minute. Everything runs as in
production, on this machine:

- its own PostgreSQL database (created on --database-url's server, dropped at the end) and Redis
  database (--redis-url, flushed at the start and the end: give it one of its own);
- its own Offers simulator (--latency-ms per request, offers changing every minute);
- the web app under gunicorn (--web-workers sync workers, as the Procfile runs it) on a free
  loopback port, DEBUG off, static files collected (into a temporary STATIC_ROOT) and served
  by whitenoise, no HTTPS (SECURE_SSL_REDIRECT and SECURE_COOKIES off: it is plain HTTP on
  loopback);
- --consumers real `manage.py run_huey` consumers (--consumer-workers threads each, one with
  the scheduler) with OFFERS_SYNC_INTERVAL --interval (60 s).

Before the load it creates the accounts and products (registered with the simulator through
pricing's service), writes --history-days of minute snapshots per product
(pricing.testing.minute_snapshots) and syncs every product once, so that every page has offers
and a history; the sessions are made without the login form (Django's test client's
force_login, stored in the database like any other). Then locust (bench/load_users.py, in its
own process) starts the people over --warm-up seconds and measures --duration seconds.

Printed: per kind of request and in total, the requests, requests per second, p50/p95/p99 and
the longest time (exact, from every request) and the errors; the sync runs (from pricing's
SyncRun rows) with whether each finished during the load; the CPU each process group used
during the load (sampled from /proc); the errors by kind; and the verdict against the goal
(no error, p95 ≤ --p95-goal-ms). Exit status 1 on any error, if no sync run finished during the
load, or if a process died; the logs (gunicorn's, its access log, the consumers', locust's)
are then kept under var/load-*.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from _processes import (  # bench/ is on sys.path
    CLOCK_TICKS,
    PG_SERVER,
    SAMPLE_EVERY,
    Consumer,
    Sampler,
    child_pids,
    flush_redis,
    postgres_processes,
    redis_server_pid,
)
from _setup import ROOT, setup_django, throwaway_database

# libpq names each process's connections after PGAPPNAME: how their backends are told apart.
WEB_APP_NAME = "load-web"
CONSUMER_APP_NAME = "load-consumer"
WEB = "web: gunicorn master and workers"
WEB_BACKENDS = "PostgreSQL: the web's backends"
CONSUMERS_BACKENDS = "PostgreSQL: the consumers' backends"
SIMULATOR = "Offers simulator"
LOCUST = "locust (the simulated people)"
REDIS = "redis-server *"
SYNC_BATCH = 100  # products per batch of the first sync, before the load
# gunicorn's access log: when it answered, the status, its own time (µs, from reading the request
# to the end of the answer: no wait for a free worker) and what was asked (path, htmx target).
ACCESS_LOG_FORMAT = "%(t)s %(s)s %(D)s %(U)s %({hx-target}i)s"

# Names for the products (and so the searches): "Compact kettle 07".
ADJECTIVES = ("Compact", "Deluxe", "Classic", "Smart", "Mini")
NOUNS = ("espresso machine", "kettle", "toaster", "blender", "grinder")
NOUNS += ("mixer", "kitchen scale", "juicer", "air fryer", "steamer")
TIME_ZONES = ("Europe/Prague", "UTC", "America/New_York", "Asia/Tokyo")

# The rows of the table, in this order; names the people use (bench/load_users.py).
PERIOD_LABELS = [f"{p}{o}" for p in ("24h", "7d", "30d", "all") for o in ("", " +offers")]
REQUEST_ORDER = [
    "/ (302 to the overview)",
    "overview",
    "overview: sort [product-table]",
    "overview: search [product-table]",
    "overview: page [product-table]",
    *[f"product page {label}" for label in PERIOD_LABELS],
    *[f"product-live {label}" for label in PERIOD_LABELS],
    "offers-table poll",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/load.py",
        description=__doc__.split("\n\n")[0],
        epilog="Needs PostgreSQL and Redis running; everything else is its own.",
    )
    add = parser.add_argument
    add("--users", type=int, default=50, help="simulated people (default: %(default)s)")
    add(
        "--products-per-user",
        type=int,
        default=20,
        help="products of each person's account (default: %(default)s)",
    )
    add(
        "--duration",
        type=float,
        default=120.0,
        help="seconds of load measured, after the warm-up (default: %(default)s)",
    )
    add(
        "--warm-up",
        type=float,
        default=30.0,
        help="seconds to start the people (over the first half) and let them settle, not "
        "measured (default: %(default)s)",
    )
    add(
        "--web-workers",
        type=int,
        default=3,
        help="gunicorn sync workers (default: %(default)s, as in the Procfile)",
    )
    add(
        "--consumers",
        type=int,
        default=2,
        help="run_huey processes, the scheduler's included (default: %(default)s)",
    )
    add(
        "--consumer-workers",
        type=int,
        default=4,
        help="threads per consumer (default: %(default)s)",
    )
    add(
        "--interval",
        type=float,
        default=60.0,
        help="OFFERS_SYNC_INTERVAL, seconds between sync runs (default: %(default)s)",
    )
    add(
        "--history-days",
        type=float,
        default=1.0,
        help="days of minute snapshots written per product before the load (default: %(default)s)",
    )
    add(
        "--latency-ms",
        type=float,
        default=20.0,
        help="latency the simulator adds to every API request (default: %(default)s)",
    )
    add(
        "--p95-goal-ms",
        type=float,
        default=300.0,
        help="the goal for the p95 of all requests, for the verdict only (default: %(default)s)",
    )
    add("--seed", type=int, default=0, help="seed of the people and the simulator (default: 0)")
    add(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server (postgres://user@host:port/maintenance-db) where the benchmark "
        "creates its own database and drops it afterwards (default: %(default)s)",
    )
    add(
        "--redis-url",
        default="redis://127.0.0.1:6379/7",
        help="the Redis database of the task queue and the cache; flushed at the start and the "
        "end, so give it one of its own (default: %(default)s)",
    )
    add(
        "--log-dir",
        type=Path,
        help="where the logs go (default: a temporary folder under var/, kept if a check fails)",
    )
    args = parser.parse_args(argv)
    counts = (args.users, args.products_per_user, args.web_workers)
    counts += (args.consumers, args.consumer_workers)
    if min(counts) < 1:
        parser.error(
            "--users, --products-per-user, --web-workers, --consumers and --consumer-workers "
            "must be >= 1"
        )
    if args.duration <= 0 or args.warm_up < 0 or args.interval <= 0:
        parser.error("--duration and --interval must be > 0, --warm-up >= 0")
    if args.history_days < 0 or args.latency_ms < 0:
        parser.error("--history-days and --latency-ms must be >= 0")
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a PostgreSQL server: several processes write at once")
    return args


# --- The catalogue -------------------------------------------------------------------------------


def build_catalogue(args: argparse.Namespace) -> dict:
    """The accounts, their registered products with a history and their first offers; returns
    the sessions file's content for bench/load_users.py."""
    from django.conf import settings
    from django.db import connections
    from django.test import Client
    from django.utils import timezone
    from tqdm import tqdm

    from accounts.models import User
    from pricing.models import ProductTracking
    from pricing.services import SyncResult, offers_sync_batch, product_register
    from pricing.testing import minute_snapshots
    from products.models import Product

    owners = [
        User.objects.create_user(
            email=f"load-{index:03}@example.com",
            password=None,
            full_name=f"Load user {index}",
            time_zone=TIME_ZONES[index % len(TIME_ZONES)],
        )
        for index in range(args.users)
    ]
    names = [f"{a} {n}" for n in NOUNS for a in ADJECTIVES]
    # bulk_create sends no post_save: nothing reaches a queue, and pricing's tracking rows are
    # written here; the registrations go through pricing's service below.
    products = Product.objects.bulk_create(
        Product(
            owner=owner,
            name=f"{names[(index * 7 + k) % len(names)]} {k:02}",
            description="A product of the load test.",
        )
        for index, owner in enumerate(owners)
        for k in range(args.products_per_user)
    )
    ProductTracking.objects.bulk_create(ProductTracking(product=product) for product in products)
    ids = [product.pk for product in products]

    def register(product_id: uuid.UUID) -> bool:
        try:
            return product_register(product_id=product_id).registered
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        registered = list(tqdm(pool.map(register, ids), total=len(ids), desc="registering"))
    if not all(registered):
        raise SystemExit(f"{registered.count(False)} products could not be registered")

    minutes = round(args.history_days * 24 * 60)
    if minutes:
        start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes)
        for product in tqdm(products, desc="history"):
            minute_snapshots(product, start=start, count=minutes)

    failed = 0
    for offset in tqdm(range(0, len(ids), SYNC_BATCH), desc="first sync (batches)"):
        outcomes = offers_sync_batch(product_ids=ids[offset : offset + SYNC_BATCH])
        failed += sum(outcome.result is not SyncResult.SYNCED for outcome in outcomes.values())
    if failed:
        raise SystemExit(f"the first sync failed for {failed} products")

    sessions = []
    for index, owner in enumerate(owners):
        client = Client()
        client.force_login(owner)
        own = {names[(index * 7 + k) % len(names)] for k in range(args.products_per_user)}
        terms = [*sorted({name.split(" ", 1)[1] for name in own}), "no such thing"]
        sessions.append(
            {"cookie": client.cookies[settings.SESSION_COOKIE_NAME].value, "search_terms": terms}
        )
    return {"cookie_name": settings.SESSION_COOKIE_NAME, "sessions": sessions}


# --- The processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(**extra: str) -> dict[str, str]:
    """This process's environment (setup_django's database, simulator, DEBUG off, no .env;
    REDIS_URL; no HTTPS) with the app's own connection age and log level, as in production."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    for name in ("CONN_MAX_AGE", "LOG_LEVEL"):
        env.pop(name, None)
    return env


class WebServer:
    """gunicorn serving the app (sync workers, as the Procfile runs it) on a loopback port.

    STATIC_ROOT is fixed in site/settings.py (BASE_DIR/staticfiles); to leave the working tree
    alone, the web processes use a settings module of their own, in the work folder, that only
    moves it there, and collectstatic fills it (whitenoise's manifest storage needs its manifest
    when DEBUG is off)."""

    def __init__(self, *, workers: int, work: Path) -> None:
        self.workers = workers
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "web.log"
        self.access_log = work / "web-access.log"
        self.process: subprocess.Popen | None = None
        static_root = work / "static"
        (work / "load_settings.py").write_text(
            '"""site/settings.py with STATIC_ROOT in bench/load.py\'s work folder."""\n\n'
            "from settings import *  # noqa: F403\n\n"
            f"STATIC_ROOT = {str(static_root)!r}\n"
        )
        pythonpath = [str(work), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = production_environment(
            DJANGO_SETTINGS_MODULE="load_settings",
            PYTHONPATH=os.pathsep.join(pythonpath),
            PGAPPNAME=WEB_APP_NAME,
        )

    def collect_static(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "--pythonpath", "site", "wsgi:application"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        command += ["--no-control-socket", "--access-logfile", str(self.access_log)]
        command += ["--access-logformat", ACCESS_LOG_FORMAT]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_until_serving(self, timeout: float = 60.0) -> None:
        """Until the landing page answers 200 (a visitor's; the people are signed in)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.exited():
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not serve in {timeout:g} s:\n{self.log_tail()}")
            time.sleep(0.3)

    def pids(self) -> set[int]:
        if self.process is None or self.exited():
            return set()
        return {self.process.pid} | child_pids(self.process.pid)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """SIGTERM: gunicorn's graceful stop (workers finish their requests)."""
        if self.process is None or self.exited():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def answers(self, start: float, end: float) -> list[tuple[str, float]]:
        """(kind, gunicorn's own milliseconds) of the answers logged within [start, end]."""
        answers = []
        if not self.access_log.exists():
            return answers
        for line in self.access_log.read_text(errors="replace").splitlines():
            try:
                stamp, offset, _status, micros, path, target = line.split()
                moment = datetime.strptime(f"{stamp}{offset}", "[%d/%b/%Y:%H:%M:%S%z]")
            except ValueError:
                continue
            # Stamped to the second when it was answered: the seconds that overlap the window.
            if start - 1 < moment.timestamp() <= end:
                answers.append((request_kind(path, target), int(micros) / 1000))
        return answers

    def problems_logged(self) -> list[str]:
        """Tracebacks, worker timeouts and errors in gunicorn's log."""
        if not self.log.exists():
            return []
        markers = ("Traceback", "WORKER TIMEOUT", "ERROR", "CRITICAL")
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if any(marker in line for marker in markers)
        ]


@dataclass(slots=True)
class LoadRun:
    web: WebServer
    consumers: list[Consumer]
    sampler: Sampler
    window: tuple[float, float] = (0.0, 0.0)
    users: int = 0
    requests: list = field(default_factory=list)  # (name, start, ms, error)
    # (UNIX time, busy CPU seconds of the whole machine), and its load average, each second
    machine: list[tuple[float, float]] = field(default_factory=list)
    load_averages: list[tuple[float, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def started(*processes) -> Iterator[None]:
    """Stops every process given (web server, consumers) on the way out, whatever happened."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def run_load(args: argparse.Namespace, *, sessions: dict, simulator_pid: int, work: Path):
    """Start the web and the consumers, run the people, stop everything; what happened."""
    from django.db import connection

    web = WebServer(workers=args.web_workers, work=work)
    print("Collecting static files …", file=sys.stderr)
    web.collect_static()
    env = production_environment(OFFERS_SYNC_INTERVAL=f"{args.interval:g}")
    consumers = [
        Consumer(
            index,
            scheduler=index == 0,
            workers=args.consumer_workers,
            env=env,
            app_name=CONSUMER_APP_NAME,
        )
        for index in range(args.consumers)
    ]
    sessions_file = work / "sessions.json"
    sessions_file.write_text(json.dumps(sessions))
    results_file = work / "requests.json"
    locust_log = work / "locust.log"
    locust: subprocess.Popen | None = None
    redis_pid = redis_server_pid(args.redis_url)
    database = connection.settings_dict["NAME"]

    def find() -> dict[str, set[int]]:
        found = {WEB: web.pids()}
        found |= {c.label: {c.process.pid} for c in consumers if c.process and not c.exited()}
        found[SIMULATOR] = {simulator_pid}
        found[LOCUST] = {locust.pid} if locust and locust.poll() is None else set()
        found.update(
            postgres_processes(
                database, {WEB_BACKENDS: WEB_APP_NAME, CONSUMERS_BACKENDS: CONSUMER_APP_NAME}
            )
        )
        found[REDIS] = {redis_pid} if redis_pid else set()
        return found

    sampler = Sampler(find, private_memory={WEB_BACKENDS, CONSUMERS_BACKENDS, PG_SERVER})
    result = LoadRun(web=web, consumers=consumers, sampler=sampler)
    with sampler, started(web, *consumers):
        web.start()
        web.wait_until_serving()
        for consumer in consumers[1:]:
            consumer.start(work)
            consumer.wait_until_started()
        consumers[0].start(work)  # the scheduler, once the others are up
        consumers[0].wait_until_started()
        print(
            f"Serving on {web.url}; {args.users} people start over {args.warm_up / 2:g} s, "
            f"then {args.duration:g} s of load after {args.warm_up:g} s of warm-up …",
            file=sys.stderr,
        )
        command = [sys.executable, str(ROOT / "bench" / "load_users.py"), "--host", web.url]
        command += ["--sessions", str(sessions_file), "--users", str(args.users)]
        command += ["--warm-up", f"{args.warm_up:g}", "--duration", f"{args.duration:g}"]
        command += ["--seed", str(args.seed)]
        command += ["--out", str(results_file)]
        with locust_log.open("w") as output:
            locust = subprocess.Popen(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        try:
            deadline = time.monotonic() + args.warm_up + args.duration + 120
            while locust.poll() is None:
                result.machine.append((time.time(), machine_cpu()[0]))
                result.load_averages.append((time.time(), os.getloadavg()[0]))
                dead = [c for c in consumers if c.exited()] + ([web] if web.exited() else [])
                if dead or time.monotonic() > deadline:
                    for process in dead:
                        name = "gunicorn" if process is web else process.label
                        result.problems.append(
                            f"{name} exited with status {process.process.returncode}:\n"
                            f"{process.log_tail()}"
                        )
                    if not dead:
                        result.problems.append("locust did not finish in time")
                    locust.kill()
                    break
                time.sleep(1)
            locust.wait()
            result.machine.append((time.time(), machine_cpu()[0]))
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    if locust.returncode != 0 or not results_file.exists():
        tail = "\n".join(locust_log.read_text(errors="replace").splitlines()[-30:])
        result.problems.append(f"locust exited with status {locust.returncode}:\n{tail}")
        return result
    outcome = json.loads(results_file.read_text())
    result.window = tuple(outcome["window"])
    result.users = outcome["users"]
    result.requests = outcome["requests"]
    if sampler.error is not None:
        result.problems.append(f"sampling the processes failed: {sampler.error!r}")
    return result


def request_kind(path: str, target: str) -> str:
    """A coarse kind of request, the same for what locust and gunicorn saw."""
    htmx = target not in ("", "-")
    if path == "/":
        return "/"
    if path == "/dashboard/":
        return "overview table (htmx)" if htmx else "overview (page)"
    if path.startswith("/products/"):
        return target if htmx else "product page (page)"
    return "other"


KIND_ORDER = ["/", "overview (page)", "overview table (htmx)", "product page (page)"]
KIND_ORDER += ["product-live", "offers-table", "other"]
CLIENT_KINDS = {
    "/ (302 to the overview)": "/",
    "overview": "overview (page)",
    "offers-table poll": "offers-table",
}


def client_kind(name: str) -> str:
    if name in CLIENT_KINDS:
        return CLIENT_KINDS[name]
    if name.startswith("overview: "):
        return "overview table (htmx)"
    if name.startswith("product page "):
        return "product page (page)"
    if name.startswith("product-live "):
        return "product-live"
    return "other"


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, every core summed (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is counted in user already
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def interpolate(samples: list[tuple[float, float]], moment: float) -> float:
    """The value of a growing counter at `moment`, from (time, value) samples."""
    before = None
    for sampled_at, value in samples:
        if sampled_at >= moment:
            if before is None:
                return value
            share = (moment - before[0]) / (sampled_at - before[0])
            return before[1] + share * (value - before[1])
        before = (sampled_at, value)
    return before[1] if before else 0.0


# --- Report --------------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values`."""
    return values[max(0, math.ceil(share * len(values)) - 1)]


def print_requests(result: LoadRun) -> tuple[int, float | None]:
    """The table of requests; returns (errors, p95 of all requests in ms)."""
    seconds = result.window[1] - result.window[0]
    by_name: dict[str, list] = defaultdict(list)
    for request in result.requests:
        by_name[request[0]].append(request)
    names = [n for n in REQUEST_ORDER if n in by_name] + sorted(set(by_name) - set(REQUEST_ORDER))
    print(
        f"{'request':<34}{'requests':>9}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
        f"{'max ms':>8}{'errors':>8}"
    )

    def row(name: str, requests: list) -> float | None:
        times = sorted(request[2] for request in requests)
        errors = sum(request[3] is not None for request in requests)
        if not times:
            print(f"{name:<34}{0:>9}")
            return None
        p50, p95, p99 = (percentile(times, share) for share in (0.5, 0.95, 0.99))
        print(
            f"{name:<34}{len(times):>9,}{len(times) / seconds:>8.2f}{p50:>8.0f}{p95:>8.0f}"
            f"{p99:>8.0f}{times[-1]:>8.0f}{errors:>8}"
        )
        return p95

    for name in names:
        row(name, by_name[name])
    print("-" * 91)
    p95 = row("all requests", result.requests)
    errors = Counter((r[0], r[3]) for r in result.requests if r[3] is not None)
    if errors:
        print("\nErrors:")
        for (name, message), count in errors.most_common(20):
            print(f"  {count:>5} × {name}: {message}")
    return sum(errors.values()), p95


def print_runs(runs: list, window: tuple[float, float]) -> int:
    """The sync runs around the load; returns how many finished during it."""
    from django.utils import timezone

    start, end = window
    print(
        f"{'sync run':>8}{'started':>10}{'seconds':>9}{'total':>7}{'synced':>8}{'failed':>8}"
        f"{'skipped':>9}  during the load"
    )
    finished_during = 0
    for run in runs:
        began = run.started_at.timestamp() - start
        if run.finished_at is None:
            seconds, during = "—", "did not finish"
        else:
            seconds = f"{(run.finished_at - run.started_at).total_seconds():.1f}"
            finished = run.finished_at.timestamp()
            if start <= run.started_at.timestamp() and finished <= end:
                during, finished_during = "yes", finished_during + 1
            elif start <= finished <= end:
                during, finished_during = "finished in it", finished_during + 1
            else:
                during = "no"
        print(
            f"{'#' + str(run.pk):>8}{f'{began:+.0f} s':>10}{seconds:>9}{run.products_total:>7,}"
            f"{run.products_synced:>8,}{run.products_failed:>8,}{run.products_skipped:>9,}"
            f"  {during}"
        )
    if not runs:
        print(f"{'none':>8} (as of {timezone.now():%H:%M:%S})")
    return finished_during


def print_processes(result: LoadRun) -> float:
    sampler = result.sampler
    start, end = result.window
    if len(sampler.samples) < 2 or end <= start:
        print("No CPU figures: the processes were not sampled during the load.")
        return 0.0
    print(
        f"CPU during the load ({end - start:.0f} s), sampled every {SAMPLE_EVERY:g} s; this "
        f"machine has {os.cpu_count()} cores (100 % = one core)."
    )
    print(f"{'process':<50}{'CPU s':>8}{'% of a core':>13}{'peak memory':>13}")
    groups = [WEB, WEB_BACKENDS, *(c.label for c in result.consumers), CONSUMERS_BACKENDS]
    groups += [SIMULATOR, LOCUST, PG_SERVER, REDIS]
    total = 0.0
    for group in groups:
        pids = sorted(sampler.pids.get(group, ()))
        if not pids:
            print(f"{group:<50}{'not visible from this machine':>34}")
            continue
        seconds = sampler.cpu_between(group, start, end)
        total += seconds
        name = f"{group}, pid {pids[0]}" if len(pids) == 1 else f"{group} ({len(pids)} pids)"
        print(
            f"{name:<50}{seconds:>8.1f}{100 * seconds / (end - start):>12.0f}%"
            f"{sampler.peak_memory.get(group, 0) / 2**20:>10.0f} MB"
        )
    print(f"{'all of the above':<50}{total:>8.1f}{100 * total / (end - start):>12.0f}%")
    machine = interpolate(result.machine, end) - interpolate(result.machine, start)
    others = max(0.0, machine - total)
    for name, seconds in (
        ("the whole machine (/proc/stat)", machine),
        ("  not this benchmark", others),
    ):
        print(f"{name:<50}{seconds:>8.1f}{100 * seconds / (end - start):>12.0f}%")
    loads = [load for moment, load in result.load_averages if start <= moment <= end]
    if loads:
        print(f"Load average (1 min) during the load: {min(loads):.1f}–{max(loads):.1f}.")
    print(
        "Peak memory: VmHWM of each process (the web: its processes' summed); for PostgreSQL, "
        "the backends' private memory (RssAnon) summed.\n"
        "* shared with every other database on the server."
    )
    return others / (end - start)


def print_server_times(result: LoadRun) -> None:
    """What locust waited for against gunicorn's own time, by kind of request: the difference
    is the wait for a free worker (and the loopback)."""
    start, end = result.window
    client: dict[str, list[float]] = defaultdict(list)
    for name, _, ms, _ in result.requests:
        client[client_kind(name)].append(ms)
    server: dict[str, list[float]] = defaultdict(list)
    for kind, ms in result.web.answers(start, end):
        server[kind].append(ms)
    print(
        "Response times seen by locust against gunicorn's own (its access log: from reading the "
        "request to the end of the answer, no wait for a free worker), ms:"
    )
    print(
        f"{'kind':<24}{'requests':>9}{'locust p50':>12}{'p95':>7}{'p99':>7}"
        f"{'gunicorn p50':>14}{'p95':>7}{'p99':>7}"
    )
    for kind in [k for k in KIND_ORDER if k in client or k in server]:
        figures = []
        for times, width in (
            (sorted(client.get(kind, [])), 12),
            (sorted(server.get(kind, [])), 14),
        ):
            if times:
                p50, p95, p99 = (percentile(times, share) for share in (0.5, 0.95, 0.99))
                figures.append(f"{p50:>{width}.0f}{p95:>7.0f}{p99:>7.0f}")
            else:
                figures.append(f"{'—':>{width}}{'—':>7}{'—':>7}")
        print(f"{kind:<24}{len(client.get(kind, [])):>9,}{''.join(figures)}")


def describe(args: argparse.Namespace, result: LoadRun, database: str) -> str:
    return (
        f"{result.users} signed-in people browsing, "
        f"{args.users} accounts × {args.products_per_user} products = "
        f"{args.users * args.products_per_user:,} products, {args.history_days:g} day(s) of "
        f"minute history each; gunicorn with {args.web_workers} sync workers on "
        f"{result.web.url} (DEBUG off); {args.consumers} consumer(s) × {args.consumer_workers} "
        f"workers, one with the scheduler, interval {args.interval:g} s; simulator latency "
        f"{args.latency_ms:g} ms; PostgreSQL ({database}, deleted afterwards), Redis "
        f"{args.redis_url}. {args.duration:g} s measured after {args.warm_up:g} s of warm-up."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        flush_redis(args.redis_url)
    except Exception as error:
        raise SystemExit(f"Redis at {args.redis_url} does not answer: {error}") from None
    # Before Django reads its settings: the queue and the cache on the benchmark's Redis db, and
    # plain HTTP on loopback (as bench/product_page.py does).
    os.environ.update(
        REDIS_URL=args.redis_url,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
    )
    work = args.log_dir or Path(tempfile.mkdtemp(prefix="load-", dir=ROOT / "var"))
    work.mkdir(parents=True, exist_ok=True)
    from offers_simulator.testing import run_simulator

    refresh_token = f"bench-{uuid.uuid4().hex}"
    simulator_args = ["--seed", str(args.seed), "--tick", "60", "--served-log-size", "0"]
    try:
        with (
            run_simulator(*simulator_args, refresh_token=refresh_token) as simulator,
            throwaway_database(args.database_url, prefix="bench_load") as database_url,
        ):
            setup_django(
                database_url=database_url,
                offers_url=simulator.base_url,
                refresh_token=refresh_token,
            )
            from django.db import connection

            database = connection.settings_dict["NAME"]
            print(
                f"Creating {args.users} accounts with {args.products_per_user} products each …",
                file=sys.stderr,
            )
            sessions = build_catalogue(args)
            simulator.set_faults(latency_ms=args.latency_ms)
            result = run_load(
                args, sessions=sessions, simulator_pid=simulator.process.pid, work=work
            )
            from pricing.models import SyncRun

            runs = list(SyncRun.objects.order_by("started_at"))
    finally:
        flush_redis(args.redis_url)

    print(f"\n{describe(args, result, database)}\n")
    problems = list(result.problems)
    if not result.requests:
        problems.append("no request was made during the load")
        errors, p95 = 0, None
    else:
        errors, p95 = print_requests(result)
    print()
    finished = print_runs(runs, result.window)
    failed_runs = [run for run in runs if run.products_failed]
    print()
    if result.requests:
        print_server_times(result)
        print()
    others = print_processes(result)
    print()
    if logged := result.web.problems_logged():
        print(f"gunicorn logged {len(logged)} problem line(s), e.g.:")
        for line in logged[:10]:
            print(f"  {line}")
        print()
    if errors:
        problems.append(f"{errors} request(s) failed")
    if not finished:
        problems.append("no sync run finished during the load")
    if failed_runs:
        problems.append(
            f"{len(failed_runs)} sync run(s) had failed products, e.g. "
            f"{next(iter(failed_runs[0].errors.items()), '')}"
        )
    goal = "met" if p95 is not None and p95 <= args.p95_goal_ms else "missed"
    p95_text = "—" if p95 is None else f"{p95:.0f} ms"
    print(
        f"Goal: 0 errors and p95 ≤ {args.p95_goal_ms:g} ms. Errors: {errors}; p95 of all "
        f"requests: {p95_text} ({goal}); sync runs finished during the load: {finished}."
    )
    if others > 0.2:
        print(
            f"Warning: other processes used {100 * others:.0f} % of a core during the load; the "
            "times above include waiting for the CPU they took."
        )
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for problem in problems:
            print(f"- {problem}")
        print(f"Logs: {work}")
        return 1
    if args.log_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
