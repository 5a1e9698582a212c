"""The Offers simulator's state and rules, independent of HTTP.

``Simulator`` answers the three API operations and the control operations with ``Reply`` values.
All state (settings, tokens, the world, fault dice, counters, the served log) sits behind one lock;
every method holds it only briefly and never while sleeping or writing the state file.

Answers follow the published OpenAPI document and FastAPI's conventions: errors are
``{"detail": "..."}``, validation errors ``{"detail": [{"loc", "msg", "type"}]}``. On register
and offers the access token is checked before the request data, as a FastAPI dependency would.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from offers_simulator.auth import AccessTokenStillValid, InvalidRefreshToken, TokenStore
from offers_simulator.config import Settings
from offers_simulator.faults import FaultDice, FaultPlan
from offers_simulator.reply import Reply, detail, json_reply, validation_error
from offers_simulator.served import DEFAULT_CAPACITY, Served, ServedLog
from offers_simulator.statefile import StateFile
from offers_simulator.world import TickClock, World

ENDPOINTS = ("auth", "register", "offers", "other")
FAULT_KINDS = ("latency", "error", "hang", "malformed", "down")
# How long a reader of the served log waits for answers that were being written when it asked.
SERVED_WAIT_SECONDS = 2.0

# Stricter than Python's uuid.UUID(), which also takes braces, "urn:uuid:", "+" and "_": our
# client must send the canonical form, and the OpenAPI's "format: uuid" means that form.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_ACCESS_TOKEN_PROBLEMS = {
    None: "Missing access token",
    "unknown": "Invalid access token",
    "expired": "Access token expired",
}


def canonical_uuid(value: object) -> str | None:
    """The lower-case canonical form of a UUID string, or None if ``value`` is not one."""
    if isinstance(value, str) and _UUID.fullmatch(value):
        return value.lower()
    return None


class Stats:
    """Counters of API answers by endpoint and status, and of injected faults."""

    def __init__(self) -> None:
        self.epoch = 0
        self.clear()

    def clear(self) -> None:
        # A new epoch: requests that started before (e.g. still hanging) are not counted.
        self.epoch += 1
        self.answers: dict[str, dict[str, int]] = {endpoint: {} for endpoint in ENDPOINTS}
        self.faults = dict.fromkeys(FAULT_KINDS, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{endpoint: dict(counts) for endpoint, counts in self.answers.items()},
            "faults": dict(self.faults),
        }


class Simulator:
    def __init__(
        self,
        *,
        refresh_tokens: Iterable[str],
        settings: Settings,
        seed: int = 0,
        fault_seed: int | None = None,
        state_file: StateFile | None = None,
        served_log_size: int = DEFAULT_CAPACITY,
    ) -> None:
        self._lock = threading.Lock()
        self._answer_written = threading.Condition(self._lock)
        self._defaults = settings
        self._settings = settings
        self._tokens = TokenStore(refresh_tokens)
        self._world = World(seed=seed, clock=TickClock(settings.tick))
        self._dice = FaultDice(seed if fault_seed is None else fault_seed)
        self._stats = Stats()
        self._served = ServedLog(served_log_size)
        # Offers answers counted but not yet in the served log (being written): tickets.
        self._last_ticket = 0
        self._writing: set[int] = set()
        self._state_file = state_file
        # Registrations are saved by the request that made them, outside the state lock;
        # generations let one save cover every registration made before it.
        self._save_lock = threading.Lock()
        self._generation = 0
        self._saved_generation = 0
        if state_file is not None:
            for item in state_file.load():
                self._world.register(item["id"], item["name"], item["description"])

    # The API ---------------------------------------------------------------------------------

    def auth(self, bearer: str | None) -> Reply:
        if bearer is None:
            return validation_error((["header", "bearer"], "field required", "value_error.missing"))
        with self._lock:
            try:
                token = self._tokens.issue(bearer, self._settings.token_ttl)
            except InvalidRefreshToken:
                return detail(401, "Invalid refresh token")
            except AccessTokenStillValid:
                return detail(400, "Cannot generate access token because another is valid")
        return json_reply(201, {"access_token": token})

    def register(self, bearer: str | None, body: bytes) -> Reply:
        with self._lock:
            problem = self._token_problem(bearer)
        if problem:
            return problem
        data, errors = _parse_registration(body)
        if errors:
            return validation_error(*errors)
        with self._lock:
            if not self._world.register(data["id"], data["name"], data["description"]):
                return detail(409, "Product ID already registered")
            self._generation += 1
            generation = self._generation
        self._save(generation)  # before answering: a 201 means it survives a restart
        return json_reply(201, {"id": data["id"]})

    def offers(self, bearer: str | None, raw_product_id: str) -> Reply:
        with self._lock:
            problem = self._token_problem(bearer)
            if problem:
                return problem
            product_id = canonical_uuid(raw_product_id)
            if product_id is None:
                return validation_error(
                    (["path", "product_id"], "value is not a valid uuid", "type_error.uuid")
                )
            answer = self._world.offers_answer(product_id)
        if answer is None:
            return detail(404, "Product ID has not been registered")
        body, summary = answer
        return Reply(200, body, offers=summary)

    def _token_problem(self, bearer: str | None) -> Reply | None:
        status = None if bearer is None else self._tokens.check(bearer)
        if status == "valid":
            return None
        return detail(401, _ACCESS_TOKEN_PROBLEMS[status])

    # Faults and counters ---------------------------------------------------------------------

    def roll_faults(self) -> tuple[FaultPlan, int]:
        """The faults for one API request, and the counters' epoch to record it under."""
        with self._lock:
            return self._dice.roll(self._settings), self._stats.epoch

    def record(
        self,
        endpoint: str,
        status: int,
        plan: FaultPlan,
        epoch: int,
        *,
        malformed: bool,
        logged: bool = False,
    ) -> int | None:
        """Counts an answer that is about to be sent, or with ``plan.down`` a request hung up on.

        With ``logged`` (an offers answer, for the served log) returns a ticket to pass to
        ``record_served`` once the answer is written; until then, readers of the log wait for it.
        """
        with self._lock:
            stats = self._stats
            if epoch == stats.epoch and plan.down:
                stats.faults["down"] += 1  # no answer, and none of the other faults applied
            elif epoch == stats.epoch:
                counts = stats.answers[endpoint]
                counts[str(status)] = counts.get(str(status), 0) + 1
                stats.faults["latency"] += plan.latency > 0
                stats.faults["hang"] += plan.hang > 0
                stats.faults["error"] += plan.error_status is not None
                stats.faults["malformed"] += malformed
            if not logged:
                return None
            self._last_ticket += 1
            self._writing.add(self._last_ticket)
            return self._last_ticket

    def record_served(self, ticket: int | None, epoch: int, entry: Served) -> None:
        """Adds an offers answer to the served log (it numbers ``entry``)."""
        with self._lock:
            if ticket is not None:
                self._writing.discard(ticket)
                self._answer_written.notify_all()
            if epoch == self._stats.epoch:  # not one that started before a reset
                self._served.append(entry)

    def served(self, *, after: int, limit: int) -> dict[str, Any]:
        """A page of the served log: up to ``limit`` entries with ``seq > after``, oldest first.

        ``last`` is the seq of the page's last entry (``after`` if it is empty); ``more`` says
        whether newer entries can be had (ask again with ``after=last``); ``missed`` counts the
        entries after ``after`` that the full log dropped before they could be read, ``dropped``
        all it dropped since the last reset. Answers whose writing had begun when this was called
        are waited for (up to SERVED_WAIT_SECONDS, the lock released meanwhile): a client that has
        read an answer finds it in the log.
        """
        with self._lock:
            horizon = self._last_ticket
            self._answer_written.wait_for(
                lambda: not any(ticket <= horizon for ticket in self._writing),
                timeout=SERVED_WAIT_SECONDS,
            )
            log = self._served
            entries = log.page(after, limit)
            newest, first, dropped = log.last_seq, log.first_seq, log.dropped
        last = entries[-1].seq if entries else after
        return {
            "served": [entry.as_dict() for entry in entries],
            "last": last,
            "more": bool(entries) and newest > last,
            "missed": max(0, first - (after + 1)),
            "dropped": dropped,
        }

    # Control ---------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            return self._state_unlocked()

    def _state_unlocked(self) -> dict[str, Any]:
        return {**self._settings.as_dict(), "registered": len(self._world)}

    def products(self) -> list[dict[str, Any]]:
        """Every registered product's fixed figures: base price, typical MAP, undercut step."""
        with self._lock:
            return self._world.products_info()

    def product(self, raw_product_id: str) -> dict[str, Any] | None:
        """One product's fixed figures and its current offers with their market state (advanced
        to now, as an offers request would); None if it is not registered."""
        product_id = canonical_uuid(raw_product_id)
        if product_id is None:
            return None
        with self._lock:
            return self._world.product_info(product_id)

    def update_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Applies ``changes`` (raises SettingsError, changing nothing, if any is bad)."""
        with self._lock:
            self._apply(self._settings.updated(changes))
            return self._state_unlocked()

    def _apply(self, settings: Settings) -> None:
        self._settings = settings
        self._world.clock.set_tick(settings.tick)

    def forget_registrations(self) -> None:
        with self._lock:
            self._world.forget_all()
            self._generation += 1
            generation = self._generation
        self._save(generation)

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.expire_all()

    def reset(self) -> None:
        """Start-up settings, no access tokens, zero counters, an empty served log, fault dice
        reseeded."""
        with self._lock:
            self._apply(self._defaults)
            self._tokens.forget_all()
            self._stats.clear()
            self._served.clear()
            self._dice.reseed()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats.as_dict()

    # Persistence -----------------------------------------------------------------------------

    def _save(self, generation: int) -> None:
        if self._state_file is None:
            return
        with self._save_lock:
            if self._saved_generation >= generation:
                return  # a save that started after our change already wrote it
            with self._lock:
                registrations = self._world.registrations()
                latest = self._generation
            try:
                self._state_file.save(registrations)
            except OSError as error:
                # The registration stands in memory; the service keeps answering.
                print(f"offers-simulator: cannot write state file: {error}", file=sys.stderr)
                return
            self._saved_generation = latest


def _parse_registration(body: bytes) -> tuple[dict[str, str], list[tuple[list[Any], str, str]]]:
    """The registration in ``body`` and FastAPI/pydantic-style errors (loc, msg, type)."""
    if not body.strip():
        return {}, [(["body"], "field required", "value_error.missing")]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as error:
        return {}, [(["body", error.pos], error.msg, "value_error.jsondecode")]
    except (ValueError, RecursionError) as error:  # undecodable bytes, absurd nesting
        return {}, [(["body"], str(error) or "invalid JSON", "value_error.jsondecode")]
    if not isinstance(data, dict):
        return {}, [(["body"], "value is not a valid dict", "type_error.dict")]
    errors: list[tuple[list[Any], str, str]] = []
    result: dict[str, str] = {}
    for field in ("id", "name", "description"):
        loc: list[Any] = ["body", field]
        if field not in data:
            errors.append((loc, "field required", "value_error.missing"))
            continue
        value = data[field]
        if value is None:
            errors.append((loc, "none is not an allowed value", "type_error.none.not_allowed"))
        elif field == "id":
            product_id = canonical_uuid(value)
            if product_id is None:
                errors.append((loc, "value is not a valid uuid", "type_error.uuid"))
            else:
                result["id"] = product_id
        elif not isinstance(value, str):
            errors.append((loc, "str type expected", "type_error.str"))
        else:
            result[field] = value
    return result, errors
