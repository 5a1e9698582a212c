"""Run-time settings of the Offers simulator: faults, access-token lifetime and tick length.

The same validators serve the command line and ``POST /_control/faults``, so both accept exactly
the same values.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """A setting has a bad value; the message says which and why."""


def _number(name: str, value: Any) -> float:
    # bool is an int subclass; "true" is not a number of seconds.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise SettingsError(f"{name} must be finite")
    return number


def _non_negative(name: str, value: Any) -> float:
    number = _number(name, value)
    if number < 0:
        raise SettingsError(f"{name} must be >= 0")
    return number


def _rate(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0 <= number <= 1:
        raise SettingsError(f"{name} must be between 0 and 1")
    return number


def _positive(minimum: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        number = _number(name, value)
        if number < minimum:
            raise SettingsError(f"{name} must be >= {minimum}")
        return number

    return check


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):  # 0, 1 and "false" are not accepted: say what you mean
        raise SettingsError(f"{name} must be true or false")
    return value


def _statuses(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts: list[Any] = [part.strip() for part in value.split(",") if part.strip()]
        try:
            value = [int(part) for part in parts]
        except ValueError:
            raise SettingsError(f"{name} must be a comma-separated list of 5xx codes") from None
    if not isinstance(value, list | tuple) or not value:
        raise SettingsError(f"{name} must be a non-empty list of 5xx codes")
    for status in value:
        if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
            raise SettingsError(f"{name} must hold only status codes 500..599")
    return tuple(value)


VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "latency_ms": _non_negative,
    "error_rate": _rate,
    "error_statuses": _statuses,
    "hang_rate": _rate,
    "hang_seconds": _non_negative,
    "malformed_rate": _rate,
    "down": _flag,
    "token_ttl": _positive(0.01),
    "tick": _positive(0.001),
}


@dataclass(frozen=True, slots=True)
class Settings:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    malformed_rate: float = 0.0
    down: bool = False  # close every API connection unanswered
    token_ttl: float = 300.0
    tick: float = 60.0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        return data

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with ``changes`` applied; raises SettingsError naming any bad key or value."""
        unknown = sorted(set(changes) - set(VALIDATORS))
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        checked = {name: VALIDATORS[name](name, value) for name, value in changes.items()}
        return dataclasses.replace(self, **checked)


def cli_type(name: str) -> Callable[[str], Any]:
    """An argparse ``type=`` for a setting, reusing its validator."""

    def parse(text: str) -> Any:
        value: Any = text
        try:
            if name != "error_statuses":
                try:
                    value = float(text)
                except ValueError:
                    raise SettingsError(f"{name} must be a number") from None
            return VALIDATORS[name](name, value)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = name  # argparse names the type in its error messages
    return parse
