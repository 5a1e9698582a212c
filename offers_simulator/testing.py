"""Start the Offers simulator as a subprocess, for tests and benchmarks (standard library only).

    with run_simulator("--tick", "0.2") as simulator:
        requests.post(f"{simulator.base_url}/auth", headers={"Bearer": simulator.refresh_token})
        simulator.set_faults(error_rate=1.0)
        ...
        served = simulator.served_log()  # every answer to GET .../offers since the reset
        simulator.reset()

The simulator binds a free loopback port; the handle knows its URLs and drives the control
endpoint (``/_control/``) with urllib: every POST carries a JSON body and
``Content-Type: application/json``, and the Host is the loopback address, as the endpoint requires.
``served_log()`` reads the log of offers answers, for comparing what was served with what a client
stored.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"offers-simulator listening on (http://\S+)")


class SimulatorError(RuntimeError):
    """The simulator did not start, or a control call failed."""


class SimulatorProcess:
    """A running simulator subprocess and its control endpoint."""

    def __init__(
        self, process: subprocess.Popen[str], root_url: str, refresh_token: str, stderr: _Tail
    ) -> None:
        self.process = process
        self.root_url = root_url  # "http://127.0.0.1:PORT"
        self.base_url = f"{root_url}/api/v1"
        self.port = int(root_url.rsplit(":", 1)[1])
        self.refresh_token = refresh_token
        self._stderr = stderr

    def set_faults(self, **config: Any) -> dict[str, Any]:
        """Changes settings (faults, ``down``, ``token_ttl``, ``tick``); returns all of them."""
        return self._control("POST", "faults", config)

    def forget_registrations(self) -> None:
        self._control("POST", "forget-registrations")

    def expire_tokens(self) -> None:
        self._control("POST", "expire-tokens")

    def reset(self) -> None:
        """Start-up settings, no access tokens, zero counters, an empty served log; registrations
        stay."""
        self._control("POST", "reset")

    def served_page(self, after: int = 0, limit: int | None = None) -> dict[str, Any]:
        """One answer of ``GET /_control/served``: ``served``, ``last``, ``more``, ``missed``,
        ``dropped`` (see ``python -m offers_simulator --help``)."""
        query = {"after": after} if limit is None else {"after": after, "limit": limit}
        return self._control("GET", f"served?{urllib.parse.urlencode(query)}")

    def served_log(self, after: int = 0) -> list[dict[str, Any]]:
        """Every answer to ``GET .../offers`` since the last reset (with ``seq > after``), oldest
        first, following the pages.

        Raises SimulatorError if the log dropped any of them (it keeps --served-log-size).
        """
        entries: list[dict[str, Any]] = []
        while True:
            page = self.served_page(after)
            if page["missed"]:
                raise SimulatorError(
                    f"the served log dropped {page['missed']} entries after seq {after}; "
                    "start the simulator with a larger --served-log-size"
                )
            entries.extend(page["served"])
            after = page["last"]
            if not page["more"]:
                return entries

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def products(self) -> list[dict[str, Any]]:
        """Every registered product's id, name, base_price, typical_map (its minimum advertised
        price: 90 % of the base price), undercut_step (a price war's step) and has_bot."""
        return self._control("GET", "products")["products"]

    def product(self, product_id: str) -> dict[str, Any]:
        """One product's figures (as ``products()``), its ``age`` in ticks, its current
        ``offers`` with their market state (``role``, ``in_price_war``, ``map_dip_ticks_left``,
        ``restock_in_ticks``) and ``price_war`` (None, or ``undercuts_left`` and ``next_age``).
        Raises SimulatorError if it is not registered."""
        return self._control("GET", f"products/{urllib.parse.quote(product_id)}")

    def state(self) -> dict[str, Any]:
        return self._control("GET", "state")

    def stderr(self) -> str:
        """The last lines the simulator wrote to stderr (tracebacks, --log lines)."""
        return self._stderr.text()

    def stop(self) -> None:
        """Terminates the simulator (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _control(self, method: str, action: str, payload: Mapping[str, Any] | None = None) -> Any:
        # The control endpoint takes POSTs only as JSON; GETs carry no body.
        data = json.dumps(payload or {}).encode() if method == "POST" else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = urllib.request.Request(
            f"{self.root_url}/_control/{action}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            raise SimulatorError(f"{method} /_control/{action}: {error.code} {body}") from None


class _Tail:
    """Keeps the last lines of a stream, read by a daemon thread so the pipe never fills."""

    def __init__(self, stream: IO[str], lines: queue.Queue[str | None] | None = None) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._forward = lines
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):  # the pipe closed under us
            for line in stream:
                self._lines.append(line)
                if self._forward is not None:
                    self._forward.put(line)
        if self._forward is not None:
            self._forward.put(None)

    def text(self) -> str:
        return "".join(self._lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@contextlib.contextmanager
def run_simulator(
    *extra_args: str,
    refresh_token: str = "test-refresh-token",
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 15.0,
) -> Iterator[SimulatorProcess]:
    """Runs ``python -m offers_simulator --port 0 --refresh-token TOKEN *extra_args``.

    ``env`` adds to (and overrides) the current environment. Yields once the simulator has
    printed its address; raises SimulatorError, with its stderr, if it does not within
    ``startup_timeout`` seconds. The process is terminated on exit.
    """
    command = [
        sys.executable,
        "-m",
        "offers_simulator",
        "--port",
        "0",
        "--refresh-token",
        refresh_token,
        *extra_args,
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,  # so that `-m offers_simulator` imports this package
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None
    stdout_lines: queue.Queue[str | None] = queue.Queue()
    stdout = _Tail(process.stdout, stdout_lines)
    stderr = _Tail(process.stderr)
    handle: SimulatorProcess | None = None
    try:
        root_url = _wait_for_address(process, stdout_lines, stderr, startup_timeout)
        handle = SimulatorProcess(process, root_url, refresh_token, stderr)
        yield handle
    finally:
        if handle is not None:
            handle.stop()
        else:
            process.kill()
            process.wait()
        stdout.join(timeout=5)
        stderr.join(timeout=5)
        process.stdout.close()
        process.stderr.close()


def _wait_for_address(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    stderr: _Tail,
    timeout: float,
) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(remaining, 0.1))
        except queue.Empty:
            continue
        if line is None:  # stdout closed: the process is gone
            break
        match = _LISTENING.search(line)
        if match:
            return match.group(1)
        seen.append(line)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=1)  # let stderr arrive if it is exiting
    stderr.join(timeout=1)
    state = "timed out" if process.poll() is None else f"exited with {process.returncode}"
    raise SimulatorError(
        f"offers simulator did not report its address ({state}).\n"
        f"stdout:\n{''.join(seen)}\nstderr:\n{stderr.text()}"
    )
