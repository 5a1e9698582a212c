"""The chart periods of the product page (24 h to a year, and all), kept in the URL."""

from datetime import datetime, timedelta
from enum import StrEnum

from pricing.selectors import MemoryWindow


class Period(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"
    HALF_YEAR = "180d"
    YEAR = "365d"
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
        return "All" if self is Period.ALL else _LABELS[self.value]

    @property
    def description(self) -> str:
        return "over the whole history" if self is Period.ALL else f"over {self.label}"

    def bounds(self, *, history_start: datetime | None, now: datetime) -> tuple[datetime, datetime]:
        """[start, end): the last 24 h, 7, 30, 90, 180 or 365 days, or the whole history (from
        its first snapshot); end is just after `now`, so that a snapshot taken now counts."""
        end = now + timedelta(seconds=1)
        start = (history_start or now) if self is Period.ALL else now - LENGTHS[self.value]
        return min(start, now - timedelta(minutes=1)), end


# The lengths and labels of the windows the pages offer, by their URL spelling (shared by the
# chart periods and the market cards' windows in dashboard.market): pricing's windows.
LENGTHS = {window.value: window.length for window in MemoryWindow}
_LABELS = {
    "24h": "24 h",
    "7d": "7 days",
    "30d": "30 days",
    "90d": "90 days",
    "180d": "180 days",
    "365d": "365 days",
}


def window_label(value: str) -> str:
    """ "7d" → "7 days"."""
    return _LABELS[value]
