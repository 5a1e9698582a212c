"""The fault matrix (issue 14): every fault the Offers simulator can inject, run against real
processes, and a check that the sync lost nothing, duplicated nothing and healed in time.

Used by the CI test (pricing/tests/test_fault_matrix.py, few products, short) and by the
benchmark (bench/fault_matrix.py, a few hundred products). It lives in `pricing.tests` rather
than beside pricing/testing.py because it starts the simulator (`offers_simulator.testing`),
and the import-linter contract "Only tests use the Offers simulator" allows only `*.tests`
packages to import it; bench/ is outside the layered packages and imports it from here. It is
not collected by pytest (its name does not start with `test_`). Django must be set up, on
PostgreSQL with Redis as the queue, before it is imported.

    report = run_fault_matrix(MatrixConfig(products=200), consumer_env=env, log_dir=path)
    print(report.markdown())
    assert report.passed, report.failure_text()

What it runs, in one process tree it cleans up whatever happens:

- its own simulator (`run_simulator`, a short --tick so offers change between syncs, fixed
  seeds, a long token lifetime so that no token runs out by itself in the middle of a fault);
- `config.consumers` real consumers (`manage.py run_huey --no-periodic --workers K`) with
  `consumer_env` (the database, Redis) plus small timeouts, so that faults resolve quickly;
- N products created through `products.services.product_create` for a few users: their
  registrations go through the consumers, as in production (the "setup" row);
- a thread that enqueues `pricing.tasks.sync_run_task` every interval (the crontab fires once a
  minute only; the consumers run without the scheduler);
- "baseline": healthy intervals; then for each fault, a healthy interval, the fault on for
  `fault_intervals` intervals (the simulator's control endpoint), then off, and the wait until
  every product is healthy again (registered, synced successfully after the fault ended, no
  failure since), which is its time to heal;
- "sigkill": in the middle of a run, `kill -9` one consumer and start a fresh one.

Then, from the database and the simulator's served log (`GET /_control/served`), the rules:

- **delivered answer**: a 200 offers answer, not malformed, that reached the client (not
  `client_gone`: the client had not given up before it was written). Each must be stored once.
- **stored / lost / duplicated**: per product, our snapshots (offer_count, total_stock,
  min_price, max_price, ordered by taken_at) are aligned with its delivered answers (in the
  order the simulator wrote them) by a longest common subsequence. Matched pairs are stored; an
  answer left unmatched is lost; a snapshot left unmatched is duplicated (stored twice, stored
  out of order, or stored from no answer at all). Answers count in the phase during which they
  were sent, snapshots in the phase of their taken_at.
- **killed in flight** (sigkill only, not lost): the killed consumer's syncs in progress are
  the product leases it claimed before the kill and never released. For each such product, its
  last delivered answer sent before the kill may be unstored: that worker died holding it. Any
  other unstored answer is lost.
- **overlap**: two offers requests for one product at once, as the simulator saw them. A
  delivered request spans [received_at, sent_at]. A request the client gave up on (a hang,
  latency past the read timeout, the worker killed) is answered long after the client stopped
  waiting, and the client's own retry follows at once: its span is cut to [received_at,
  received_at + read timeout - 0.1 s], the longest the client can have waited for it, less a
  margin for the time the request took to reach the simulator. A request that starts inside an
  earlier one's span is an overlap.
- **runs**: every `SyncRun` finished, except at most the one the sigkill interrupted, which
  must have run out its lease (stalled); the next run must start within one run-lease length
  (plus the interval at which runs are started) of that run's start.
- **healed**: within `heal_intervals` intervals of the fault ending (for sigkill, measured from
  the kill, plus what was left of the killed run's lease: no run can start before it runs out).
- **stamps**: a stored answer's snapshot is stamped with the time the answer arrived, so its
  taken_at is never before the simulator received the request (one machine, one clock; 1 ms
  of slack for rounding).
- **the fault bit**: the served log shows the fault (5xx, 404, 401, hang-ups, malformed bodies,
  delays); a fault that changed nothing proves nothing.
"""

from __future__ import annotations

import bisect
import contextlib
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.functions import Now
from django.test import override_settings
from huey.contrib.djhuey import HUEY

from offers_simulator.testing import SimulatorProcess, run_simulator
from pricing import services
from pricing.models import ProductSnapshot, ProductTracking, RegistrationState, SyncRun
from pricing.sync import SYNC_LEASE_SECONDS
from pricing.tasks import sync_run_task
from pricing.tests.history import rollup_differences
from products.services import product_create

REPO_ROOT = Path(__file__).resolve().parents[2]
FAULT_NAMES = ("latency", "errors", "hang", "malformed", "forget", "tokens", "down", "sigkill")
# How much earlier than its read timeout a client may have given up on a request, as the
# simulator's clock sees it (the time the request took to get there): see the module docstring.
GIVE_UP_MARGIN = 0.1
# A snapshot is stamped with the time its answer arrived, so never before the simulator received
# the request (one machine, one clock: PostgreSQL's and ours); rounding aside.
STAMP_SLACK = 0.001

Progress = Callable[[str], None]


# --- Configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    """What to run. Times in seconds."""

    products: int = 200
    users: int = 2
    interval: float = 5.0  # OFFERS_SYNC_INTERVAL, and how often the harness starts a run
    consumers: int = 2
    workers: int = 4  # threads per consumer
    connect_timeout: float = 0.5
    read_timeout: float = 1.0
    retries: int = 1
    retry_backoff: float = 0.05
    tick: float = 1.0  # the simulator's: offers change between syncs
    seed: int = 14
    baseline_intervals: int = 2
    lead_in_intervals: int = 1  # healthy intervals before each fault
    fault_intervals: int = 3
    heal_intervals: int = 3  # the deadline for healing, after the fault ends
    faults: tuple[str, ...] = FAULT_NAMES
    # The simulator's token lifetime and ours: no token runs out by itself during a run, so a
    # refresh happens only where a fault asks for one ("tokens"). A /auth answer lost to a
    # latency or hang fault would lock us out until the service's token expires, which the
    # contract allows and no client can avoid (offers-service.md); that is not what this tests.
    token_ttl: float = 3600.0
    hang_rate: float = 0.3
    error_rate: float = 0.6
    malformed_rate: float = 0.5
    short_token_ttl: float = 2.0  # "tokens": what the service gives during the fault
    # Products in a sync batch (OFFERS_SYNC_BATCH_SIZE); 0: an eighth of them, so that a run
    # has several batches in flight and can be killed in its middle.
    batch_size: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULT_NAMES))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULT_NAMES)}")
        if self.products < 1 or self.users < 1 or self.consumers < 2 or self.workers < 1:
            raise ValueError("products, users and workers must be >= 1, consumers >= 2")

    @property
    def latency_ms(self) -> float:
        """The latency fault: past the read timeout, every request is given up on."""
        return (self.read_timeout + 0.5) * 1000

    @property
    def hang_seconds(self) -> float:
        return 3 * self.read_timeout

    @property
    def slow_ms(self) -> float:
        """Latency under the read timeout during the sigkill phase, so that a run lasts long
        enough to be killed in the middle, with syncs in flight in every consumer."""
        return min(300.0, 250 * self.read_timeout)

    def offers_settings(self, simulator: SimulatorProcess) -> dict[str, Any]:
        """The OFFERS_* settings of the consumers (and of this process, for the lease lengths)."""
        return {
            "OFFERS_BASE_URL": simulator.base_url,
            "OFFERS_REFRESH_TOKEN": simulator.refresh_token,
            "OFFERS_CONNECT_TIMEOUT": self.connect_timeout,
            "OFFERS_READ_TIMEOUT": self.read_timeout,
            "OFFERS_RETRIES": self.retries,
            "OFFERS_RETRY_BACKOFF": self.retry_backoff,
            "OFFERS_SYNC_INTERVAL": self.interval,
            "OFFERS_SYNC_BATCH_SIZE": self.batch_size or max(1, self.products // 8),
            "OFFERS_TOKEN_TTL": self.token_ttl,
        }

    def describe(self) -> str:
        return (
            f"{self.products} products of {self.users} users; {self.consumers} consumers × "
            f"{self.workers} workers; interval {self.interval:g} s; timeouts connect "
            f"{self.connect_timeout:g} s, read {self.read_timeout:g} s; {self.retries} retries "
            f"(backoff {self.retry_backoff:g} s); batches of "
            f"{self.batch_size or max(1, self.products // 8)}; simulator tick {self.tick:g} s, "
            f"seed {self.seed}"
        )


# --- The faults ---------------------------------------------------------------------------------

Action = Callable[[SimulatorProcess, MatrixConfig], Any]


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    label: str  # the table's
    start: Action
    stop: Action
    # Whether an offers answer in the served log shows the fault.
    shows: Callable[[dict[str, Any], MatrixConfig], bool]
    pulse: Action | None = None  # again at each interval while the fault is on


def _forget(simulator: SimulatorProcess, config: MatrixConfig) -> None:
    simulator.forget_registrations()


def _short_tokens(simulator: SimulatorProcess, config: MatrixConfig) -> None:
    simulator.set_faults(token_ttl=config.short_token_ttl)
    simulator.expire_tokens()


def _long_tokens(simulator: SimulatorProcess, config: MatrixConfig) -> None:
    # The last short-lived token is expired too, so that its replacement (a long one) is asked
    # for while healing, not during the next fault.
    simulator.set_faults(token_ttl=config.token_ttl)
    simulator.expire_tokens()


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "latency",
            "latency past the read timeout",
            start=lambda s, c: s.set_faults(latency_ms=c.latency_ms),
            stop=lambda s, c: s.set_faults(latency_ms=0),
            shows=lambda e, c: e["delay"] * 1000 >= c.latency_ms,
        ),
        Fault(
            "errors",
            "5xx burst",
            start=lambda s, c: s.set_faults(error_rate=c.error_rate),
            stop=lambda s, c: s.set_faults(error_rate=0),
            shows=lambda e, c: 500 <= e["status"] < 600,
        ),
        Fault(
            "hang",
            "hangs",
            start=lambda s, c: s.set_faults(hang_rate=c.hang_rate, hang_seconds=c.hang_seconds),
            stop=lambda s, c: s.set_faults(hang_rate=0),
            shows=lambda e, c: e["delay"] >= c.hang_seconds,
        ),
        Fault(
            "malformed",
            "malformed bodies",
            start=lambda s, c: s.set_faults(malformed_rate=c.malformed_rate),
            stop=lambda s, c: s.set_faults(malformed_rate=0),
            shows=lambda e, c: e["malformed"] is not None,
        ),
        Fault(
            "forget",
            "forgotten registrations",
            start=_forget,
            pulse=_forget,
            stop=_forget,  # the fault ends with its last forgetting
            shows=lambda e, c: e["status"] == 404,
        ),
        Fault(
            "tokens",
            "tokens expiring early",
            start=_short_tokens,
            pulse=lambda s, c: s.expire_tokens(),
            stop=_long_tokens,
            shows=lambda e, c: e["status"] == 401,
        ),
        Fault(
            "down",
            "service down, then back",
            start=lambda s, c: s.set_faults(down=True),
            stop=lambda s, c: s.set_faults(down=False),
            shows=lambda e, c: e["status"] == 0,
        ),
    )
}


# --- Processes ----------------------------------------------------------------------------------


class Consumers:
    """Real `manage.py run_huey` processes, each logging to its own file in `log_dir`."""

    def __init__(self, *, env: Mapping[str, str], workers: int, log_dir: Path) -> None:
        self.env = dict(env)
        self.workers = workers
        self.log_dir = log_dir
        self.started: list[tuple[subprocess.Popen, Path]] = []

    def start(self) -> subprocess.Popen:
        log = self.log_dir / f"consumer-{len(self.started)}.log"
        with log.open("w") as output:
            command = [sys.executable, "manage.py", "run_huey", "--no-periodic", "--quiet"]
            process = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.started.append((process, log))
        return process

    def alive(self) -> list[subprocess.Popen]:
        return [process for process, _ in self.started if process.poll() is None]

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        """SIGINT (a graceful stop: running tasks finish), then SIGKILL after 20 s."""
        for process in self.alive():
            process.send_signal(signal.SIGINT)
        for process, _ in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def lines(self, *needles: str, limit: int = 20) -> list[str]:
        """Log lines (of every consumer) holding any of `needles`, the last `limit`."""
        found = []
        for index, (_, log) in enumerate(self.started):
            with contextlib.suppress(OSError):
                for line in log.read_text(errors="replace").splitlines():
                    if any(needle in line for needle in needles):
                        found.append(f"consumer-{index}: {line}")
        return found[-limit:]

    def crashed(self) -> list[str]:
        """Consumers that exited by themselves (not stopped by us), with their exit status."""
        return [
            f"consumer-{index} (pid {process.pid}) exited with status {process.returncode}"
            for index, (process, _) in enumerate(self.started)
            if process.returncode not in (None, 0, -signal.SIGINT, -signal.SIGKILL)
        ]


class RunDriver:
    """Enqueues `sync_run_task` every `interval` seconds from this process, on a fixed beat."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.enqueued = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="fault-matrix-runs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                sync_run_task()  # enqueued: HUEY is not immediate
                self.enqueued += 1
            except BaseException as error:  # Redis gone: the main thread reports it
                self.error = error
                return
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))


# --- What a run leaves behind -------------------------------------------------------------------


@dataclass(slots=True)
class Phase:
    """One row of the table, as it happened (times are UNIX seconds)."""

    name: str
    label: str
    started: float
    fault_on: float | None = None
    fault_off: float | None = None
    healed: float | None = None
    heal_deadline: float | None = None  # seconds after fault_off
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def heal_seconds(self) -> float | None:
        if self.healed is None or self.fault_off is None:
            return None
        return self.healed - self.fault_off


@dataclass(slots=True)
class Row:
    fault: str
    runs: int = 0
    served: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    overlaps: int = 0
    killed_in_flight: int = 0
    stamped_early: int = 0  # snapshots stamped before their answer's request was received
    fault_hits: int = 0
    failed_syncs: int = 0
    heal_seconds: float | None = None
    heal_deadline: float | None = None

    @property
    def healed_in_time(self) -> bool | None:
        if self.heal_deadline is None:
            return None
        return self.heal_seconds is not None and self.heal_seconds <= self.heal_deadline


@dataclass(slots=True)
class MatrixReport:
    config: MatrixConfig
    rows: list[Row]
    problems: list[str]
    notes: list[str]
    seconds: float
    log_dir: Path

    @property
    def passed(self) -> bool:
        return not self.problems

    def markdown(self) -> str:
        lines = [
            "| fault | runs | answers served | stored | lost | duplicated | overlaps "
            "| time to heal (s) | healed within 3 intervals |",
            "|---|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for row in self.rows:
            heal = "—" if row.heal_seconds is None else f"{row.heal_seconds:.1f}"
            if row.heal_deadline is None:
                within = "—"
            else:
                within = "yes" if row.healed_in_time else "**no**"
                if row.fault == "sigkill":
                    within += (
                        f" (deadline {row.heal_deadline:.0f} s: the rest of the killed run's "
                        "lease + 3 intervals)"
                    )
            lost = f"{row.lost}" + (
                f" (+{row.killed_in_flight} in flight at the kill)" if row.killed_in_flight else ""
            )
            lines.append(
                f"| {row.fault} | {row.runs} | {row.served} | {row.stored} | {lost} "
                f"| {row.duplicated} | {row.overlaps} | {heal} | {within} |"
            )
        return "\n".join(lines)

    def evidence(self) -> str:
        """What each fault did: the offers answers that show it (5xx, 404, 401, hang-ups,
        malformed bodies, delays), the syncs the runs counted as failed, and for sigkill the
        answers its worker died holding."""
        lines = [
            "| fault | offers answers showing the fault | failed syncs in runs "
            "| answers in flight at the kill | snapshots stamped before their request |",
            "|---|--:|--:|--:|--:|",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.fault} | {row.fault_hits if row.fault in FAULTS else '—'} "
                f"| {row.failed_syncs} | {row.killed_in_flight} | {row.stamped_early} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        parts = [self.config.describe(), f"{self.seconds:.0f} s in all.", *self.notes]
        parts.append(
            "Every check passed."
            if self.passed
            else f"{len(self.problems)} problem(s):\n" + "\n".join(f"- {p}" for p in self.problems)
        )
        return "\n".join(parts)

    def failure_text(self) -> str:
        return (
            f"{self.markdown()}\n\n{self.evidence()}\n\n{self.summary()}\n\n"
            f"Consumer logs: {self.log_dir}"
        )


# --- The matrix ---------------------------------------------------------------------------------


def run_fault_matrix(
    config: MatrixConfig,
    *,
    consumer_env: Mapping[str, str],
    log_dir: Path,
    progress: Progress = lambda text: None,
) -> MatrixReport:
    """Run the matrix (see the module's docstring) and check it. `consumer_env` is the consumers'
    environment (the database, REDIS_URL, DJANGO_SETTINGS_MODULE and so on); the OFFERS_* settings
    are added here. The Huey queue of this process's settings is flushed before and after."""
    log_dir.mkdir(parents=True, exist_ok=True)
    simulator_args = ["--tick", f"{config.tick:g}", "--seed", str(config.seed)]
    simulator_args += ["--fault-seed", str(config.seed), "--token-ttl", f"{config.token_ttl:g}"]
    simulator_args += ["--served-log-size", "1000000"]
    refresh_token = f"fault-matrix-{uuid.uuid4().hex}"
    with run_simulator(*simulator_args, refresh_token=refresh_token) as simulator:
        offers = config.offers_settings(simulator)
        env = {
            **consumer_env,
            **{name: str(value) for name, value in offers.items()},
            "PYTHONUNBUFFERED": "1",
        }
        with override_settings(**offers):
            matrix = _Matrix(
                config,
                simulator,
                Consumers(env=env, workers=config.workers, log_dir=log_dir),
                progress,
            )
            return matrix.run(log_dir)


class _Matrix:
    def __init__(
        self,
        config: MatrixConfig,
        simulator: SimulatorProcess,
        consumers: Consumers,
        progress: Progress,
    ) -> None:
        self.config = config
        self.simulator = simulator
        self.consumers = consumers
        self.progress_out = progress
        self.driver = RunDriver(config.interval)
        self.phases: list[Phase] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.began = time.time()
        self.users: list[Any] = []
        self.product_ids: list[uuid.UUID] = []
        self.run_lease = services.sync_run_lease_seconds()
        self.product_lease = SYNC_LEASE_SECONDS
        # sigkill: products whose sync the killed consumer had in flight, and when it died.
        self.killed_at: float | None = None
        # product id → when the killed consumer claimed its lease (UNIX time)
        self.killed_products: dict[uuid.UUID, float] = {}
        self.killed_run_id: int | None = None
        self.hang_ended: float | None = None

    # Running ------------------------------------------------------------------------------------

    def run(self, log_dir: Path) -> MatrixReport:
        config = self.config
        self.progress(
            f"{config.describe()}; run lease {self.run_lease:.0f} s, product lease "
            f"{self.product_lease:.0f} s; consumer logs in {log_dir}"
        )
        HUEY.flush()
        try:
            for _ in range(config.consumers):
                self.consumers.start()
            self._setup()
            self.driver.start()
            self._baseline()
            for name in config.faults:
                if name != "sigkill":
                    self._fault(FAULTS[name])
            if "sigkill" in config.faults:
                self._sigkill()
            self._quiesce()
        except _Abort as abort:
            self.problems.append(f"aborted: {abort}")
        finally:
            self.driver.stop()
            self.consumers.stop_all()
            HUEY.flush()
        if self.driver.error is not None:
            self.problems.append(f"enqueuing runs failed: {self.driver.error!r}")
        self.problems.extend(self.consumers.crashed())
        rows = self._check()
        # Through every fault, the roll-ups the syncs kept are those of the rows they stored.
        self.problems.extend(rollup_differences()[:20])
        return MatrixReport(
            config=config,
            rows=rows,
            problems=self.problems,
            notes=self.notes,
            seconds=time.time() - self.began,
            log_dir=log_dir,
        )

    def progress(self, text: str) -> None:
        self.progress_out(f"{time.time() - self.began:7.1f} s  {text}")

    def _setup(self) -> None:
        """Products created as users create them: each registration is queued on commit and
        run by a consumer, which syncs the product once registered."""
        phase = self._phase("setup", "setup: registration")
        count = self.config.products
        self.progress(f"[setup] creating {count} products; the consumers register them")
        User = get_user_model()
        tag = uuid.uuid4().hex[:8]
        self.users = [
            User.objects.create_user(email=f"fault-matrix-{tag}-{index}@example.com")
            for index in range(self.config.users)
        ]
        started = time.time()
        for index in range(count):
            owner = self.users[index % len(self.users)]
            product = product_create(owner=owner, name=f"Fault matrix product {index:04}")
            self.product_ids.append(product.pk)
        healed = self._wait_for(
            lambda: self._unhealthy(since=None) == 0,
            timeout=60 + count * 0.5,
            label="[setup] registered and synced once",
        )
        if healed is None:
            raise _Abort(f"{self._unhealthy(since=None)} products not registered and synced")
        phase.notes.append(
            f"{count} products created, registered and synced once in {healed - started:.1f} s"
        )

    def _baseline(self) -> None:
        self._phase("baseline", "baseline (no fault)")
        self._sleep(self.config.baseline_intervals * self.config.interval, "[baseline]")

    def _fault(self, fault: Fault) -> None:
        config, simulator = self.config, self.simulator
        phase = self._phase(fault.name, fault.label)
        self._sleep(config.lead_in_intervals * config.interval, f"[{fault.name}] healthy")
        phase.fault_on = time.time()
        fault.start(simulator, config)
        self.progress(f"[{fault.name}] on: {fault.label}")
        for number in range(1, config.fault_intervals):
            self._sleep(config.interval, f"[{fault.name}] on {number}/{config.fault_intervals}")
            if fault.pulse is not None:
                fault.pulse(simulator, config)
        self._sleep(config.interval, f"[{fault.name}] on {config.fault_intervals}")
        fault.stop(simulator, config)
        phase.fault_off = time.time()
        if fault.name == "hang":
            self.hang_ended = phase.fault_off
        self.progress(f"[{fault.name}] off; waiting until every product is healthy")
        phase.heal_deadline = config.heal_intervals * config.interval
        phase.healed = self._wait_for(
            lambda: self._unhealthy(since=phase.fault_off) == 0,
            # Long enough to measure a slow heal, not only to see that it missed its deadline.
            timeout=max(60.0, 4 * phase.heal_deadline),
            label=f"[{fault.name}] healing",
        )
        if phase.healed is None:
            phase.problems.append(
                f"{self._unhealthy(since=phase.fault_off)} products still unhealthy "
                f"{max(60.0, 4 * phase.heal_deadline):.0f} s after the fault ended"
            )
        else:
            self.progress(f"[{fault.name}] healed in {phase.heal_seconds:.1f} s")

    def _sigkill(self) -> None:
        """kill -9 one consumer in the middle of a run, start a fresh one; then the run lease
        of the killed run must run out and the next run start within one lease length."""
        config, simulator = self.config, self.simulator
        phase = self._phase("sigkill", "worker killed (SIGKILL) mid-run")
        self._sleep(config.lead_in_intervals * config.interval, "[sigkill] healthy")
        simulator.set_faults(latency_ms=config.slow_ms)
        self.progress(f"[sigkill] runs slowed ({config.slow_ms:g} ms a call); waiting for a run")
        phase_start = _aware(phase.started)
        seen: list[SyncRun] = []

        def run_in_the_middle() -> bool:
            run = (
                SyncRun.objects.filter(started_at__gte=phase_start, finished_at__isnull=True)
                .order_by("-started_at")
                .first()
            )
            if run is None or not run.products_total:
                return False
            done = run.products_synced + run.products_failed + run.products_skipped
            if run.products_total / 4 <= done <= run.products_total * 3 / 4:
                seen.append(run)
                return True
            return False

        if self._wait_for(run_in_the_middle, timeout=10 * config.interval + 30, poll=0.02) is None:
            simulator.set_faults(latency_ms=0)
            phase.problems.append("no run was seen in its middle: nothing was killed")
            return
        run = seen[-1]
        victim = self.consumers.alive()[0]
        self.consumers.kill(victim)
        self.killed_at = phase.fault_on = phase.fault_off = time.time()
        self.killed_run_id = run.pk
        self.consumers.start()
        simulator.set_faults(latency_ms=0)
        self.progress(
            f"[sigkill] killed consumer pid {victim.pid} during run #{run.pk}; started a fresh one"
        )
        phase.notes.append(f"consumer pid {victim.pid} killed with SIGKILL during run #{run.pk}")

        # The killed consumer's syncs in flight: product leases claimed before the kill and
        # still held once the others have worked through the queue (theirs are released).
        self._wait_for(lambda: HUEY.pending_count() == 0, timeout=60)
        time.sleep(1.5)
        for product_id, expires_at in ProductTracking.objects.filter(
            sync_lease_expires_at__gt=Now()
        ).values_list("pk", "sync_lease_expires_at"):
            # Claimed then, or renewed (a batch renews only after seconds in flight).
            claimed_at = expires_at.timestamp() - self.product_lease
            if claimed_at <= self.killed_at:
                self.killed_products[product_id] = claimed_at
        phase.notes.append(f"{len(self.killed_products)} product syncs were in flight in it")

        killed_run = SyncRun.objects.get(pk=run.pk)

        def next_run() -> SyncRun | None:
            return (
                SyncRun.objects.filter(started_at__gt=killed_run.started_at)
                .order_by("started_at")
                .first()
            )

        # Runs are started every interval: the first after the lease ran out may wait that long.
        allowed = self.run_lease + config.interval + 2
        following = self._wait_for(
            next_run,
            timeout=allowed + 30,
            label=f"[sigkill] waiting for the next run (run lease {self.run_lease:.0f} s)",
        )
        if following is None:
            phase.problems.append(f"no run started in the {allowed + 30:.0f} s after the kill")
            return
        following = next_run()
        delay = (following.started_at - killed_run.started_at).total_seconds()
        verdict = "within" if delay <= allowed else "NOT within"
        phase.notes.append(
            f"the next run (#{following.pk}) started {delay:.1f} s after the killed run: "
            f"{verdict} the run lease ({self.run_lease:.0f} s) plus one interval"
        )
        if delay > allowed:
            phase.problems.append(
                f"the next run started {delay:.1f} s after the killed run, more than the run "
                f"lease ({self.run_lease:.0f} s) plus one interval"
            )
        # Nothing can heal before the killed run's lease runs out; then as after any fault.
        lease_left = killed_run.lease_expires_at.timestamp() - self.killed_at
        phase.heal_deadline = lease_left + config.heal_intervals * config.interval
        phase.healed = self._wait_for(
            lambda: self._unhealthy(since=self.killed_at) == 0,
            timeout=phase.heal_deadline + 60,
            label="[sigkill] healing",
        )
        if phase.healed is None:
            phase.problems.append(
                f"{self._unhealthy(since=self.killed_at)} products still unhealthy "
                f"{phase.heal_deadline + 60:.0f} s after the kill"
            )
        else:
            self.progress(f"[sigkill] healed {phase.heal_seconds:.1f} s after the kill")

    def _quiesce(self) -> None:
        """Let the last run and every sync in progress finish, and the hanging requests end, so
        that the database and the served log are complete; then stop starting runs."""
        self._sleep(self.config.interval, "[end] a last healthy interval")
        self.driver.stop()
        unfinished_ok = [] if self.killed_run_id is None else [self.killed_run_id]

        def idle() -> bool:
            return (
                HUEY.pending_count() == 0
                and not SyncRun.objects.filter(finished_at__isnull=True)
                .exclude(pk__in=unfinished_ok)
                .exists()
                and not ProductTracking.objects.filter(sync_lease_expires_at__gt=Now()).exists()
            )

        if self._wait_for(idle, timeout=60 + self.config.products * 0.2, label="[end]") is None:
            self.problems.append("the queue, the runs or the syncs did not settle at the end")
        if self.hang_ended is not None:
            # A hanging request is logged when its sleep ends, long after the client gave up.
            time.sleep(max(0.0, self.hang_ended + self.config.hang_seconds + 1 - time.time()))

    # Helpers ------------------------------------------------------------------------------------

    def _phase(self, name: str, label: str) -> Phase:
        phase = Phase(name=name, label=label, started=time.time())
        self.phases.append(phase)
        return phase

    def _unhealthy(self, *, since: float | None) -> int:
        """Products not registered, never synced or synced last before `since` (UNIX time), or
        whose last sync failed."""
        healthy = ProductTracking.objects.filter(
            product__owner__in=self.users,
            registration_state=RegistrationState.REGISTERED,
            sync_failures=0,
            last_sync_error="",
        )
        if since is None:
            healthy = healthy.filter(last_synced_at__isnull=False)
        else:
            healthy = healthy.filter(last_synced_at__gt=_aware(since))
        return len(self.product_ids) - healthy.count()

    def _status(self) -> str:
        run = SyncRun.objects.order_by("-started_at").first()
        if run is None:
            about = "no run yet"
        else:
            done = run.products_synced + run.products_failed + run.products_skipped
            state = "finished" if run.finished_at else "running"
            about = (
                f"run #{run.pk} {state}: {done}/{run.products_total} done, "
                f"{run.products_failed} failed"
            )
        return f"{about}; unhealthy {self._unhealthy(since=None)}/{len(self.product_ids)}"

    def _check_driver(self) -> None:
        if self.driver.error is not None:
            raise _Abort(f"enqueuing runs failed: {self.driver.error!r}")
        if len(self.consumers.alive()) < self.config.consumers:
            raise _Abort("; ".join(self.consumers.crashed()) or "a consumer died")

    def _sleep(self, seconds: float, label: str) -> None:
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            time.sleep(min(left, self.config.interval))
            self._check_driver()
            self.progress(f"{label}: {self._status()}")

    def _wait_for(
        self, condition: Callable[[], object], *, timeout: float, label: str = "", poll: float = 0.2
    ) -> float | None:
        """Poll `condition` until it is truthy: the UNIX time it first was, or None on timeout.
        Reports the status every interval when given a label."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + self.config.interval
        while True:
            if condition():
                return time.time()
            if time.monotonic() > deadline:
                return None
            self._check_driver()
            if label and time.monotonic() >= next_report:
                self.progress(f"{label}: {self._status()}")
                next_report += self.config.interval
            time.sleep(poll)

    # Checking -----------------------------------------------------------------------------------

    def _check(self) -> list[Row]:
        if not self.phases:
            return []
        starts = [phase.started for phase in self.phases]
        rows = [Row(fault=phase.name) for phase in self.phases]

        def row_at(moment: float) -> Row:
            return rows[max(0, bisect.bisect_right(starts, moment) - 1)]

        try:
            served = self.simulator.served_log()
        except Exception as error:
            self.problems.append(f"could not read the served log: {error}")
            return rows
        known = set(self.product_ids)
        answers: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        requests: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for entry in served:
            try:
                product_id = uuid.UUID(entry["product_id"])
            except ValueError:
                product_id = None
            if product_id not in known:
                self.problems.append(f"an offers request for an unknown product: {entry}")
                continue
            requests[product_id].append(entry)
            if _delivered_data(entry):
                answers[product_id].append(entry)
        for phase, row in zip(self.phases, rows, strict=True):
            fault = FAULTS.get(phase.name)
            if fault is not None:
                window = (phase.fault_on or 0, (phase.fault_off or 0) + self.config.read_timeout)
                row.fault_hits = sum(
                    1
                    for entry in served
                    if window[0] <= entry["received_at"] <= window[1]
                    and fault.shows(entry, self.config)
                )
                if not row.fault_hits:
                    phase.problems.append("the served log shows no sign of the fault")
            row.heal_seconds = phase.heal_seconds
            row.heal_deadline = phase.heal_deadline

        snapshots: dict[uuid.UUID, list[tuple]] = defaultdict(list)
        for product_id, taken_at, *figures in (
            ProductSnapshot.objects.filter(product_id__in=self.product_ids)
            .order_by("product_id", "taken_at", "id")
            .values_list(
                "product_id", "taken_at", "offer_count", "total_stock", "min_price", "max_price"
            )
        ):
            snapshots[product_id].append((taken_at.timestamp(), tuple(figures)))

        examples: list[str] = []
        early: list[tuple[float, str]] = []  # (how early, what), for the worst examples
        for product_id in self.product_ids:
            delivered = answers[product_id]
            stored = snapshots[product_id]
            lost, duplicated, pairs = _align(
                [_figures(entry) for entry in delivered], [figures for _, figures in stored]
            )
            for answer_index, snapshot_index in pairs:
                entry, taken_at = delivered[answer_index], stored[snapshot_index][0]
                row = row_at(entry["sent_at"])
                row.stored += 1
                if taken_at < entry["received_at"] - STAMP_SLACK:
                    row.stamped_early += 1
                    early.append(
                        (
                            entry["received_at"] - taken_at,
                            f"product {product_id}: answer seq {entry['seq']} (request received "
                            f"{_clock(entry['received_at'])}, answer sent "
                            f"{_clock(entry['sent_at'])}) stored with taken_at "
                            f"{_clock(taken_at)}, "
                            f"{(entry['received_at'] - taken_at) * 1000:.0f} ms before the request "
                            "was received",
                        )
                    )
            excused = self._killed_in_flight(product_id, delivered, lost)
            for index in lost:
                entry = delivered[index]
                row = row_at(entry["sent_at"])
                if index in excused:
                    row.killed_in_flight += 1
                    continue
                row.lost += 1
                examples.append(
                    f"lost: product {product_id}, answer seq {entry['seq']} sent at "
                    f"{_clock(entry['sent_at'])} with {_figures(entry)} was never stored"
                )
            for index in duplicated:
                taken_at, figures = stored[index]
                row_at(taken_at).duplicated += 1
                examples.append(
                    f"duplicated: product {product_id}, snapshot taken at {_clock(taken_at)} "
                    f"with {figures} matches no delivered answer (or one stored already)"
                )
            for entry, earlier in _overlapping(requests[product_id], self.config.read_timeout):
                row_at(entry["received_at"]).overlaps += 1
                examples.append(
                    f"overlap: product {product_id}, request seq {entry['seq']} received at "
                    f"{_clock(entry['received_at'])} while seq {earlier['seq']} (received "
                    f"{_clock(earlier['received_at'])}, answered {_clock(earlier['sent_at'])}"
                    f"{', given up on' if earlier['client_gone'] else ''}) was in progress"
                )
            for entry in delivered:
                row_at(entry["sent_at"]).served += 1

        if early:
            early.sort(reverse=True)
            self.problems.append(
                f"{len(early)} snapshots are stamped before the simulator even received their "
                f"request (taken_at must be the time the answer arrived), by up to "
                f"{early[0][0] * 1000:.0f} ms; the worst:\n"
                + "\n".join(f"  {what}" for _, what in early[:5])
            )
        for phase in self.phases:
            self.notes.extend(f"{phase.name}: {note}" for note in phase.notes)
        self._check_runs(rows, row_at)
        for phase, row in zip(self.phases, rows, strict=True):
            self.problems.extend(f"{phase.name}: {problem}" for problem in phase.problems)
            for what in ("lost", "duplicated", "overlaps"):
                if getattr(row, what):
                    self.problems.append(f"{phase.name}: {getattr(row, what)} {what}")
            if row.healed_in_time is False:
                self.problems.append(
                    f"{phase.name}: healed in "
                    + ("never" if row.heal_seconds is None else f"{row.heal_seconds:.1f} s")
                    + f", deadline {row.heal_deadline:.1f} s"
                )
        if examples:
            self.problems.append("examples:\n" + "\n".join(f"  {line}" for line in examples[:15]))
            mentioned = sorted({line.split("product ")[1].split(",")[0] for line in examples})
            log_lines = self.consumers.lines(*mentioned[:5])
            if log_lines:
                self.problems.append(
                    "their consumer log lines:\n" + "\n".join(f"  {line}" for line in log_lines)
                )
        return rows

    def _killed_in_flight(
        self, product_id: uuid.UUID, delivered: list[dict[str, Any]], lost: list[int]
    ) -> set[int]:
        """The unstored answer the killed consumer held for this product, if any: the last one
        delivered before the kill under the lease it claimed for the product and never gave
        back."""
        claimed_at = self.killed_products.get(product_id)
        if self.killed_at is None or claimed_at is None:
            return set()
        held = [
            index
            for index in lost
            # Received under the lease it died holding (the database's clock and ours: one
            # machine; a little slack for the lease's own statement).
            if claimed_at - 0.05 <= delivered[index]["received_at"]
            and delivered[index]["sent_at"] <= self.killed_at
        ]
        return {held[-1]} if held else set()

    def _check_runs(self, rows: list[Row], row_at: Callable[[float], Row]) -> None:
        for run in SyncRun.objects.filter(started_at__gte=_aware(self.began)):
            row = row_at(run.started_at.timestamp())
            row.runs += 1
            row.failed_syncs += run.products_failed
            if run.finished_at is not None:
                continue
            if run.pk == self.killed_run_id:
                stalled = run.is_stalled(now=datetime.now(UTC))
                self.notes.append(
                    f"sigkill: the killed run #{run.pk} stayed unfinished "
                    f"({'stalled: its lease ran out' if stalled else 'its lease still runs'})"
                )
                if not stalled:
                    self.problems.append(f"sigkill: the killed run #{run.pk} is not stalled")
                continue
            self.problems.append(
                f"run #{run.pk} started at {_clock(run.started_at.timestamp())} never finished "
                f"({run.products_synced} synced, {run.products_failed} failed, "
                f"{run.products_skipped} skipped of {run.products_total})"
            )
        if (
            self.killed_run_id is not None
            and SyncRun.objects.filter(pk=self.killed_run_id, finished_at__isnull=False).exists()
        ):
            self.notes.append("sigkill: the killed run finished all the same")
        for phase, row in zip(self.phases, rows, strict=True):
            if phase.name not in ("setup",) and not row.runs:
                phase.problems.append("no run started during the phase")


class _Abort(Exception):
    """The matrix cannot go on (a consumer died, the queue failed, setup never finished)."""


# --- The rules, as pure functions ---------------------------------------------------------------


def _delivered_data(entry: Mapping[str, Any]) -> bool:
    """A 200 offers answer, well formed, that reached the client."""
    return entry["status"] == 200 and entry["malformed"] is None and not entry["client_gone"]


def _figures(entry: Mapping[str, Any]) -> tuple:
    return (entry["offer_count"], entry["total_stock"], entry["min_price"], entry["max_price"])


def _align(answers: list[tuple], stored: list[tuple]) -> tuple[list[int], list[int], list[tuple]]:
    """A longest common subsequence of `answers` and `stored`: (indices of answers left over,
    indices of stored left over, matched (answer, stored) index pairs)."""
    if answers == stored:
        return [], [], [(index, index) for index in range(len(answers))]
    # The common prefix and suffix match as they are; the table is only for the middle.
    head = 0
    while head < min(len(answers), len(stored)) and answers[head] == stored[head]:
        head += 1
    tail = 0
    while tail < min(len(answers), len(stored)) - head and answers[-1 - tail] == stored[-1 - tail]:
        tail += 1
    a, s = answers[head : len(answers) - tail], stored[head : len(stored) - tail]
    table = [[0] * (len(s) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(s) - 1, -1, -1):
            table[i][j] = (
                table[i + 1][j + 1] + 1 if a[i] == s[j] else max(table[i + 1][j], table[i][j + 1])
            )
    pairs = [(index, index) for index in range(head)]
    left_a, left_s = [], []
    i = j = 0
    while i < len(a) and j < len(s):
        if a[i] == s[j]:
            pairs.append((head + i, head + j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            left_a.append(head + i)
            i += 1
        else:
            left_s.append(head + j)
            j += 1
    left_a.extend(head + index for index in range(i, len(a)))
    left_s.extend(head + index for index in range(j, len(s)))
    pairs.extend((len(answers) - tail + k, len(stored) - tail + k) for k in range(tail))
    return left_a, left_s, pairs


def _overlapping(
    entries: list[dict[str, Any]], read_timeout: float
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The requests of one product that started while an earlier one was still in progress
    (the spans of the module's docstring), each with the one it overlapped."""

    def span(entry: Mapping[str, Any]) -> tuple[float, float]:
        start, end = entry["received_at"], entry["sent_at"]
        if entry["client_gone"]:
            end = min(end, start + read_timeout - GIVE_UP_MARGIN)
        return start, end

    busy_until, busy = float("-inf"), None
    for entry in sorted(entries, key=lambda e: e["received_at"]):
        start, end = span(entry)
        if start < busy_until and busy is not None:
            yield entry, busy
        if end > busy_until:
            busy_until, busy = end, entry


def _aware(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def _clock(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S.%f")[:-3]
