"""How often a rule would have fired over the last 30 days of its product's history, with its
noise controls applied. (Being written.)"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class BacktestResult:
    available: bool  # False when the history cannot say; `reason` says why
    reason: str
    since: datetime  # the period examined, [since, until]
    until: datetime
    syncs: int  # the product's syncs in it
    fired: int  # firings, with debounce, re-arming and cooldown applied
    held: int  # of which in the owner's quiet hours (their email waits for the digest)
    capped_days: int  # local days on which this rule alone would pass the owner's daily cap
    fired_at: list[datetime] = field(default_factory=list)  # every firing, oldest first
    per_day: list[tuple[date, int]] = field(default_factory=list)  # firings per local day


def alert_backtest(
    *, owner, product_id: uuid.UUID, spec: Mapping[str, Any], now: datetime | None = None
) -> BacktestResult:
    raise NotImplementedError
