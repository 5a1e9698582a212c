"""The chart periods of the product page: 24 h, 7 d, 30 d and all, kept in the URL."""

from datetime import datetime, timedelta
from enum import StrEnum


class Period(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    ALL = "all"

    @classmethod
    def from_param(cls, value: str | None) -> "Period":
        """An unknown value falls back to 24 h rather than failing the page."""
        try:
            return cls(value)
        except ValueError:
            return cls.DAY

    @property
    def label(self) -> str:
        return {"24h": "24 h", "7d": "7 days", "30d": "30 days", "all": "All"}[self.value]

    @property
    def description(self) -> str:
        return "over the whole history" if self is Period.ALL else f"over {self.label}"

    def bounds(self, *, history_start: datetime | None, now: datetime) -> tuple[datetime, datetime]:
        """[start, end): the last 24 h, 7 or 30 days, or the whole history (from its first
        snapshot); end is just after `now`, so that a snapshot taken now counts."""
        end = now + timedelta(seconds=1)
        start = (history_start or now) if self is Period.ALL else now - _LENGTHS[self]
        return min(start, now - timedelta(minutes=1)), end


_LENGTHS = {
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(days=7),
    Period.MONTH: timedelta(days=30),
}
