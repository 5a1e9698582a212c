"""Fault injection: which faults hit a request, and what a faulty answer looks like.

Faults come from their own ``random.Random`` (``--fault-seed``), so a run is repeatable. Every
request draws the same number of values whatever the settings, so the sequence of faults depends
only on the seed and the order of requests.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from http import HTTPStatus

from offers_simulator.config import Settings
from offers_simulator.reply import Reply

MALFORMED_VARIANTS = ("truncated", "html", "empty", "legacy", "wrong_types")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults chosen for one request; the server applies them."""

    latency: float = 0.0  # seconds
    hang: float = 0.0  # seconds, on top of the latency
    error_status: int | None = None
    malformed: str | None = None  # a MALFORMED_VARIANTS name; applies only to 2xx answers
    down: bool = False  # close the connection without answering; the other faults do not apply

    @property
    def delay(self) -> float:
        return self.latency + self.hang


class FaultDice:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)

    def reseed(self) -> None:
        self._rng = random.Random(self._seed)

    def roll(self, settings: Settings) -> FaultPlan:
        """The faults for the next request (five draws, whatever the settings, ``down`` too)."""
        hang, error, status_pick, malformed, variant = (self._rng.random() for _ in range(5))
        statuses = settings.error_statuses
        error_status = statuses[int(status_pick * len(statuses))]
        return FaultPlan(
            latency=settings.latency_ms / 1000,
            hang=settings.hang_seconds if hang < settings.hang_rate else 0.0,
            error_status=error_status if error < settings.error_rate else None,
            malformed=MALFORMED_VARIANTS[int(variant * len(MALFORMED_VARIANTS))]
            if malformed < settings.malformed_rate
            else None,
            down=settings.down,
        )


def error_reply(status: int) -> Reply:
    """A 5xx as an app server (500) or a proxy in front of it (502, 503, ...) would send it."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    if status == 500:
        return Reply(status, b"Internal Server Error", "text/plain; charset=utf-8")
    page = (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Reply(status, page.encode(), "text/html")


def _wrong_types(value: object) -> object:
    # Same keys, wrong value types: a client that trusts the shape breaks on it.
    if isinstance(value, list):
        return {"items": [_wrong_types(item) for item in value]}
    if isinstance(value, dict):
        return {key: None if isinstance(item, str) else str(item) for key, item in value.items()}
    return None


def malformed_reply(reply: Reply, variant: str) -> Reply:
    """``reply`` (a 2xx) with its body replaced by something that is not the documented JSON."""
    if variant == "truncated":
        # Our bodies are objects or arrays: no strict prefix of one is valid JSON.
        return Reply(reply.status, reply.body[: max(1, len(reply.body) // 2)], reply.content_type)
    if variant == "html":
        page = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"
        return Reply(reply.status, page, "text/html")
    if variant == "empty":
        return Reply(reply.status, b"", reply.content_type)
    if variant == "legacy":
        payload: object = {"code": "internal_error", "msg": "Something went wrong"}
        return Reply(reply.status, json.dumps(payload).encode(), reply.content_type)
    return Reply(
        reply.status, json.dumps(_wrong_types(json.loads(reply.body))).encode(), reply.content_type
    )
