"""How often a rule would have fired over the last 30 days of its product's history, with its
noise controls applied: what a user sees while editing a rule.

Computed in the database: the rule's condition at every snapshot of the period is the live
evaluation's own expression (pricing.alerts.conditions, with the rule's values as constants),
and window functions cut the syncs where it holds into runs (a run: consecutive syncs where it
holds, NULLs left out as the evaluation leaves them) with the sync at which each run reaches
the debounce. Python then walks the runs, not the syncs, applying re-arming and the cooldown;
with a cooldown it also reads the times of the syncs past each run's debounce point, to find
the first sync after the cooldown. The result is what the evaluation fires over the same
history, for a rule that existed before the period (tests hold the two to it).

Per user: quiet hours (firings whose email would wait for the digest) and the daily cap (days
on which this rule alone would pass it) are counted, not applied: they decide delivery, not
whether a rule fires.
"""

import uuid
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from pricing.alerts.conditions import Params, with_conditions
from pricing.alerts.noise import is_quiet
from pricing.alerts.rules import (
    EVENT_KINDS,
    STARTS_DISARMED,
    AlertRuleNotFound,
    rule_spec_clean,
)
from pricing.alerts.selectors import alert_settings_of
from pricing.models import AlertFigure, AlertRule, ProductSnapshot, RawHistoryHorizon
from products.models import Product

BACKTEST_PERIOD = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    available: bool  # False when the history cannot say; `reason` says why
    reason: str
    since: datetime  # the period examined, (since, until]
    until: datetime
    syncs: int  # the product's syncs in it
    fired: int  # firings, with debounce, re-arming and cooldown applied
    held: int  # of which in the owner's quiet hours (their email waits for the digest)
    capped_days: int  # local days on which this rule alone would pass the owner's daily cap
    fired_at: list[datetime] = field(default_factory=list)  # every firing, oldest first
    per_day: list[tuple[date, int]] = field(default_factory=list)  # firings per local day


@dataclass(frozen=True, slots=True)
class _Run:
    number: int
    starts_history: bool  # its first sync is the period's first decided one
    due_at: datetime | None  # the sync at which it reaches the debounce; None: it never does


def alert_backtest(
    *, owner, product_id: uuid.UUID, spec: Mapping[str, Any], now: datetime | None = None
) -> BacktestResult:
    """The back-test of `spec` (a rule as rule_spec_clean takes it, which validates it) on the
    owner's product over the 30 days up to `now` (default: now), or the part of them whose raw
    history is kept. Raises ValidationError for a wrong spec, AlertRuleNotFound when the
    product is not the owner's. Times are UTC; days are the owner's local days."""
    fields = rule_spec_clean(spec)
    product = Product.objects.filter(pk=product_id, owner=owner).first()
    if product is None:
        raise AlertRuleNotFound(product_id)
    rule = AlertRule(product=product, **fields)
    until = now or timezone.now()
    since = until - BACKTEST_PERIOD
    horizon = RawHistoryHorizon.objects.values_list("raw_since", flat=True).first()
    if horizon is not None and horizon > since:
        since = horizon
    empty = {"since": since, "until": until, "fired": 0, "held": 0, "capped_days": 0}
    snapshots = ProductSnapshot.objects.filter(
        product=product, taken_at__gt=since, taken_at__lte=until
    )
    syncs = snapshots.count()
    if rule.figure == AlertFigure.CHEAPEST_IN_STOCK:
        return BacktestResult(
            available=False,
            reason="The history keeps the cheapest offer, not the cheapest with a given stock: "
            "this rule cannot be back-tested.",
            syncs=syncs,
            **empty,
        )
    if not syncs:
        return BacktestResult(
            available=False, reason="No sync in the period yet.", syncs=0, **empty
        )
    conditions = (
        with_conditions(snapshots, Params(rule=rule), live=False)
        .filter(holds__isnull=False)
        .values("taken_at", "holds")
        .order_by("taken_at")
    )
    events = rule.kind in EVENT_KINDS
    runs, times = _runs(
        conditions, debounce=rule.debounce, with_times=events or bool(rule.cooldown)
    )
    fired_at = _firings(rule, runs, times)
    return _result(owner, rule, since, until, syncs, fired_at)


# Each run of syncs where the condition holds (among the decided ones), numbered by a running
# count of its starts; its syncs numbered within it.
_RUNS_SQL = """
WITH decided AS ({conditions}),
marked AS (
    SELECT taken_at, holds, LAG(holds) OVER (ORDER BY taken_at) AS held_before FROM decided
),
numbered AS (
    SELECT taken_at, holds, held_before,
        SUM(CASE WHEN holds AND (held_before IS NULL OR NOT held_before) THEN 1 ELSE 0 END)
            OVER (ORDER BY taken_at ROWS UNBOUNDED PRECEDING) AS run
    FROM marked
),
holding AS (
    SELECT taken_at, run, held_before,
        ROW_NUMBER() OVER (PARTITION BY run ORDER BY taken_at) AS k
    FROM numbered WHERE holds
)
"""


def _runs(conditions, *, debounce: int, with_times: bool):
    """The runs, in order, and (with_times) the times of each run's syncs from its debounce
    point on."""
    sql, params = conditions.query.sql_with_params()
    head = _RUNS_SQL.format(conditions=sql)
    with connection.cursor() as cursor:
        cursor.execute(
            head + "SELECT run, MAX(CASE WHEN k = 1 AND held_before IS NULL THEN 1 ELSE 0 END), "
            "MIN(CASE WHEN k = %s THEN taken_at END) FROM holding GROUP BY run ORDER BY run",
            [*params, debounce],
        )
        runs = [_Run(number, bool(first), _aware(due)) for number, first, due in cursor.fetchall()]
        times: dict[int, list[datetime]] = defaultdict(list)
        if with_times:
            cursor.execute(
                head + "SELECT run, taken_at FROM holding WHERE k >= %s ORDER BY taken_at",
                [*params, debounce],
            )
            for number, taken_at in cursor.fetchall():
                times[number].append(_aware(taken_at))
    return runs, times


def _aware(value) -> datetime | None:
    """A time from raw SQL: aware on PostgreSQL, Django's text format on SQLite."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _firings(rule: AlertRule, runs: list[_Run], times: Mapping[int, list[datetime]]):
    """When the rule fires, run by run, as the evaluation would: an event kind at every sync
    that saw a change, a state when a run reaches the debounce while armed; both only once the
    cooldown since the previous firing has passed (a run caught in it fires at its first sync
    after, if it still holds)."""
    fired_at: list[datetime] = []

    def cooled(moment: datetime) -> bool:
        return not fired_at or moment >= fired_at[-1] + rule.cooldown

    for run in runs:
        if rule.kind in EVENT_KINDS:
            for moment in times[run.number]:
                if cooled(moment):
                    fired_at.append(moment)
            continue
        if run.due_at is None or (run.starts_history and rule.kind in STARTS_DISARMED):
            continue  # too short, or never seen false: not armed
        moment = run.due_at
        if not cooled(moment):
            after = times[run.number]
            index = bisect_left(after, fired_at[-1] + rule.cooldown)
            if index == len(after):
                continue
            moment = after[index]
        fired_at.append(moment)
    return fired_at


def _result(owner, rule, since, until, syncs, fired_at) -> BacktestResult:
    prefs = alert_settings_of(user=owner)
    zone = owner.zoneinfo
    per_day = Counter(moment.astimezone(zone).date() for moment in fired_at)
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return BacktestResult(
        available=True,
        reason="",
        since=since,
        until=until,
        syncs=syncs,
        fired=len(fired_at),
        held=sum(1 for moment in fired_at if is_quiet(moment, zone, prefs)),
        capped_days=sum(1 for count in per_day.values() if count > prefs.daily_cap),
        fired_at=fired_at,
        per_day=[(day, per_day[day]) for day in days],
    )
