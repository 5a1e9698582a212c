"""A rule's parameters: which each kind takes, their one validation (for pages and API alike),
and the words that describe rules and firings.

Interfaces hand a rule over as a plain mapping (a RuleSpec's fields, windows as "1h"/"24h"/"7d",
look-backs in days, cooldowns in minutes); `rule_spec_clean` checks it and returns the model's
field values, or raises ValidationError with a message per field.
"""

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from pricing.models import AlertDirection, AlertFigure, AlertKind, AlertRule


class AlertRuleNotFound(LookupError):
    """No such rule, or product, of this owner (another user's is not found either)."""


PRICE_KINDS = frozenset({AlertKind.PRICE_BELOW, AlertKind.PRICE_ABOVE})
# True at the one sync that saw them: "held for N syncs" means nothing for them.
EVENT_KINDS = frozenset(
    {
        AlertKind.CHEAPEST_CHANGED,
        AlertKind.OFFER_OUT_OF_STOCK,
        AlertKind.OFFER_BACK_IN_STOCK,
        AlertKind.OFFER_APPEARED,
        AlertKind.OFFER_VANISHED,
    }
)
# A new rule of these kinds waits until its condition has been false: "back in stock" means
# nothing for a product that was never seen out of it.
STARTS_DISARMED = frozenset({AlertKind.BACK_IN_STOCK})

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
WINDOW_WORDS = {"1h": "an hour", "24h": "24 hours", "7d": "7 days"}
LOOKBACK_DAYS = (7, 30, 90)
MOVE_FIGURES = (AlertFigure.CHEAPEST, AlertFigure.MEAN, AlertFigure.WEIGHTED_MEAN)
DEBOUNCE_MAX = 60
COOLDOWN_MAX_MINUTES = 7 * 24 * 60
RULES_PER_PRODUCT_MAX = 20

# Every parameter a spec may carry, with its value when the kind takes none.
SPEC_FIELDS = {
    "kind": "",
    "figure": "",
    "threshold": None,
    "min_stock": None,
    "direction": "",
    "change_percent": None,
    "change_amount": None,
    "window": None,
    "lookback_days": None,
    "debounce": 1,
    "cooldown_minutes": 0,
    "is_enabled": True,
}


def rule_spec_of(rule: AlertRule) -> dict[str, Any]:
    """The spec a rule was made from (what forms and the API show and edit)."""
    return {
        "kind": rule.kind,
        "figure": rule.figure,
        "threshold": rule.threshold,
        "min_stock": rule.min_stock,
        "direction": rule.direction,
        "change_percent": rule.change_percent,
        "change_amount": rule.change_amount,
        "window": window_name(rule.window),
        "lookback_days": rule.lookback.days if rule.lookback else None,
        "debounce": rule.debounce,
        "cooldown_minutes": int(rule.cooldown.total_seconds() // 60),
        "is_enabled": rule.is_enabled,
    }


def rule_spec_clean(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The model field values of a valid spec; parameters the kind does not take are cleared.

    Raises ValidationError({field: message}) naming every wrong field.
    """
    unknown = set(spec) - set(SPEC_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    data = {**SPEC_FIELDS, **spec}
    errors: dict[str, str] = {}
    kind = data["kind"]
    if kind not in AlertKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(AlertKind.values)}."})

    def need(name: str, message: str) -> Any:
        if data[name] in (None, ""):
            errors[name] = message
        return data[name]

    def whole(name: str, *, low: int, high: int | None = None) -> int | None:
        value = data[name]
        if value in (None, ""):
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
        ):
            errors[name] = "Enter a whole number."
            return None
        if value < low or (high is not None and value > high):
            errors[name] = (
                f"Enter a number from {low} to {high:,}." if high else f"Enter at least {low}."
            )
            return None
        return int(value)

    fields: dict[str, Any] = {
        "kind": kind,
        "figure": "",
        "threshold": None,
        "min_stock": None,
        "direction": "",
        "change_percent": None,
        "change_amount": None,
        "window": None,
        "lookback": None,
    }
    price_max = 10**15
    if kind in PRICE_KINDS:
        figure = need("figure", "Choose the price to watch.")
        if figure and figure not in AlertFigure.values:
            errors["figure"] = f"Choose one of: {', '.join(AlertFigure.values)}."
        fields["figure"] = figure
        need("threshold", "Enter the price.")
        fields["threshold"] = whole("threshold", low=1, high=price_max)
        if figure == AlertFigure.CHEAPEST_IN_STOCK:
            need("min_stock", "Enter the items an offer must have in stock.")
            fields["min_stock"] = whole("min_stock", low=1, high=10**9)
    elif kind == AlertKind.PRICE_MOVE:
        figure = need("figure", "Choose the price to watch.")
        if figure and figure not in MOVE_FIGURES:
            errors["figure"] = f"Choose one of: {', '.join(MOVE_FIGURES)}."
        fields["figure"] = figure
        direction = need("direction", "Choose up, down or either.")
        if direction and direction not in AlertDirection.values:
            errors["direction"] = f"Choose one of: {', '.join(AlertDirection.values)}."
        fields["direction"] = direction
        window = need("window", "Choose the window.")
        if window and window not in WINDOWS:
            errors["window"] = f"Choose one of: {', '.join(WINDOWS)}."
        fields["window"] = WINDOWS.get(window)
        percent, amount = data["change_percent"], data["change_amount"]
        if (percent in (None, "")) == (amount in (None, "")):
            errors["change_percent"] = "Enter either a percentage or an amount."
        elif percent not in (None, ""):
            if (
                isinstance(percent, bool)
                or not isinstance(percent, int | float)
                or not math.isfinite(percent)
            ):
                errors["change_percent"] = "Enter a number."
            elif not 0 < percent <= 1000:
                errors["change_percent"] = "Enter a percentage above 0 and up to 1000."
            else:
                fields["change_percent"] = float(percent)
        else:
            fields["change_amount"] = whole("change_amount", low=1, high=price_max)
    elif kind == AlertKind.STOCK_BELOW:
        need("threshold", "Enter the number of items.")
        fields["threshold"] = whole("threshold", low=1, high=10**12)
    elif kind in (AlertKind.NEW_LOW, AlertKind.NEW_HIGH):
        days = need("lookback_days", "Choose the number of days.")
        if days not in (None, "") and days not in LOOKBACK_DAYS:
            errors["lookback_days"] = f"Choose one of: {', '.join(map(str, LOOKBACK_DAYS))}."
        elif days not in (None, ""):
            fields["lookback"] = timedelta(days=days)

    debounce = whole("debounce", low=1, high=DEBOUNCE_MAX)
    if kind in EVENT_KINDS and debounce not in (None, 1):
        errors["debounce"] = "This kind fires on a change, seen at one sync: leave it at 1."
    cooldown = whole("cooldown_minutes", low=0, high=COOLDOWN_MAX_MINUTES)
    enabled = data["is_enabled"]
    if not isinstance(enabled, bool):
        errors["is_enabled"] = "Must be true or false."
    if errors:
        raise ValidationError(errors)
    fields.update(
        debounce=debounce or 1,
        cooldown=timedelta(minutes=cooldown or 0),
        is_enabled=enabled,
    )
    return fields


def window_name(window: timedelta | None) -> str | None:
    """The name of a rule's window ("24h"); None when it has none."""
    return next((name for name, span in WINDOWS.items() if span == window), None)


def window_words(window: timedelta | None) -> str:
    """A rule's window in words ("24 hours")."""
    return WINDOW_WORDS.get(window_name(window), "?")


def money(amount: float | int | None) -> str:
    """A price as the pages show it: whole units, or two decimals for a mean."""
    if amount is None:
        return "—"
    if float(amount).is_integer():
        return f"{int(amount):,} {settings.PRICE_CURRENCY}"
    return f"{amount:,.2f} {settings.PRICE_CURRENCY}"


def rule_describe(rule: AlertRule) -> str:
    """The rule in a few words: "Cheapest offer below 95 CZK"."""
    kind = AlertKind(rule.kind)
    figure = AlertFigure(rule.figure).label if rule.figure else ""
    if rule.figure == AlertFigure.CHEAPEST_IN_STOCK:
        figure = f"Cheapest offer with at least {rule.min_stock} in stock"
    if kind == AlertKind.PRICE_BELOW:
        return f"{figure} below {money(rule.threshold)}"
    if kind == AlertKind.PRICE_ABOVE:
        return f"{figure} above {money(rule.threshold)}"
    if kind == AlertKind.PRICE_MOVE:
        size = f"{rule.change_percent:g} %" if rule.change_percent else money(rule.change_amount)
        way = {"down": "falls", "up": "rises", "either": "moves"}[rule.direction]
        return f"{figure} {way} by {size} within {window_words(rule.window)}"
    if kind == AlertKind.STOCK_BELOW:
        return f"Total stock below {rule.threshold:,}"
    if kind == AlertKind.NEW_LOW:
        return f"Cheapest offer lowest in {rule.lookback.days} days"
    if kind == AlertKind.NEW_HIGH:
        return f"Dearest offer highest in {rule.lookback.days} days"
    return kind.label


def noise_describe(rule: AlertRule) -> str:
    """The rule's noise controls in words, empty when it has none."""
    parts = []
    if rule.debounce > 1:
        parts.append(f"after {rule.debounce} syncs in a row")
    if rule.cooldown:
        minutes = int(rule.cooldown.total_seconds() // 60)
        parts.append(
            f"at most every {minutes} min" if minutes < 120 else f"at most every {minutes // 60} h"
        )
    return ", ".join(parts)
