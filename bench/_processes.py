"""What the benchmarks that run real processes share: /proc readings (CPU time, memory), a
sampler of process groups, Huey consumers (`manage.py run_huey`) and the Redis helpers.

Used by bench/sync_e2e.py and bench/load.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _setup import ROOT  # bench/ is on sys.path

SAMPLE_EVERY = 1.0
CONSUMER_STARTED = "Huey consumer started"  # huey's own log line, at INFO whatever LOG_LEVEL says
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PG_SERVER = "PostgreSQL: server processes *"


# --- Processes, as /proc sees them ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from its third field on (proc(5) numbers them from 1), or None if the
    process is gone or not visible."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the command name before it may hold anything


def cpu_seconds(pid: int) -> tuple[int, float] | None:
    """(start time, user + system CPU seconds of all its threads); None if it is gone. The start
    time tells a process from a later one that got the same pid."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # utime, stime and starttime are proc(5)'s fields 14, 15 and 22.
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def memory_bytes(pid: int, key: str) -> int:
    """A line of /proc/<pid>/status in bytes (VmHWM, RssAnon…); 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == key:
                return int(value.split()[0]) * 1024
    except OSError:
        pass
    return 0


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def child_pids(pid: int) -> set[int]:
    """The processes whose parent is `pid` (a gunicorn master's workers)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_pid(int(entry.name)) == pid:
            children.add(int(entry.name))
    return children


def postgres_processes(database: str, backends: dict[str, str]) -> dict[str, set[int]]:
    """For each group of `backends` ({group: application name prefix}), the backends of the
    connections to `database` whose application name (PGAPPNAME) starts with that prefix; and
    the server's own processes, as PG_SERVER (pg_stat_activity lists them too; the postmaster
    is their parent). Only those this machine runs: a server elsewhere shows none."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_type, datname, application_name FROM pg_stat_activity")
        rows = cursor.fetchall()
    found = {
        group: {
            pid
            for pid, _, datname, application in rows
            if datname == database
            and (application or "").startswith(prefix)
            and command_name(pid) == "postgres"
        }
        for group, prefix in backends.items()
    }
    server = {pid for pid, kind, _, _ in rows if kind not in ("client backend", "parallel worker")}
    server |= {parent_pid(pid) for pid in server} - {None}
    found[PG_SERVER] = {pid for pid in server if command_name(pid) == "postgres"}
    return found


class Sampler:
    """Samples the CPU time and memory of groups of processes every SAMPLE_EVERY seconds, in a
    thread. `find` names each group's processes at each sample (backends come and go); a group's
    CPU time is the sum over every process it ever had, each at its last sample."""

    def __init__(
        self, find: Callable[[], dict[str, set[int]]], *, private_memory: set[str]
    ) -> None:
        self._find = find
        # Groups of several processes that share memory (PostgreSQL's shared buffers are in
        # every backend's RSS): their private memory is summed instead of each one's peak RSS.
        self._private_memory = private_memory
        self._cpu: dict[str, dict[tuple[int, int], float]] = {}
        self.samples: list[tuple[float, dict[str, float]]] = []  # (UNIX time, CPU s per group)
        self.peak_memory: dict[str, int] = {}
        self.pids: dict[str, set[int]] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from django.db import connection

        try:
            while True:
                self._sample()
                if self._stop.wait(SAMPLE_EVERY):
                    return
        except BaseException as error:  # the main thread reports it
            self.error = error
        finally:
            connection.close()  # this thread's

    def _sample(self) -> None:
        now = time.time()
        totals = {}
        for group, pids in self._find().items():
            cpu = self._cpu.setdefault(group, {})
            memory_key = "RssAnon" if group in self._private_memory else "VmHWM"
            memory = 0
            for pid in pids:
                read = cpu_seconds(pid)
                if read is None:
                    continue
                started, seconds = read
                cpu[(pid, started)] = seconds
                self.pids.setdefault(group, set()).add(pid)
                memory += memory_bytes(pid, memory_key)
            totals[group] = sum(cpu.values())
            self.peak_memory[group] = max(self.peak_memory.get(group, 0), memory)
        self.samples.append((now, totals))

    def cpu_between(self, group: str, start: float, end: float) -> float:
        return self._cpu_at(group, end) - self._cpu_at(group, start)

    def _cpu_at(self, group: str, moment: float) -> float:
        """The group's CPU seconds so far at `moment`, interpolated between samples."""
        before = None
        for sampled_at, totals in self.samples:
            value = totals.get(group, 0.0)
            if sampled_at >= moment:
                if before is None:
                    return value
                earlier, earlier_value = before
                share = (moment - earlier) / (sampled_at - earlier)
                return earlier_value + share * (value - earlier_value)
            before = (sampled_at, value)
        return before[1] if before else 0.0


# --- Consumers -----------------------------------------------------------------------------------


class Consumer:
    """One `manage.py run_huey` process, logging to its own file; its PostgreSQL connections
    are named `app_name`-`index`."""

    def __init__(
        self, index: int, *, scheduler: bool, workers: int, env: dict[str, str], app_name: str
    ) -> None:
        self.index = index
        self.scheduler = scheduler
        self.workers = workers
        # libpq names its connections after PGAPPNAME: how their backends are told apart.
        self.env = {**env, "PGAPPNAME": f"{app_name}-{index}"}
        self.process: subprocess.Popen | None = None
        self.log: Path | None = None

    @property
    def label(self) -> str:
        return f"consumer {self.index}" + (" (scheduler)" if self.scheduler else "")

    def start(self, log_dir: Path) -> None:
        self.log = log_dir / f"consumer-{self.index}.log"
        command = [sys.executable, "manage.py", "run_huey", "--workers", str(self.workers)]
        if not self.scheduler:
            command.append("--no-periodic")
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_until_started(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while CONSUMER_STARTED not in self.log.read_text(errors="replace"):
            if self.exited():
                raise RuntimeError(f"{self.label} exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} did not start in {timeout:g} s")
            time.sleep(0.2)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """SIGINT (a graceful stop: running tasks finish), then SIGKILL after 30 s."""
        if self.process is None or self.exited():
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log else ""
        return "\n".join(text.splitlines()[-lines:])


# --- Redis ---------------------------------------------------------------------------------------


def redis_server_pid(url: str) -> int | None:
    """redis-server's pid, if it runs on this machine."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    return pid if command_name(pid).startswith("redis-server") else None


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
