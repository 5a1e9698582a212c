"""Market position on the pages (issue 19): the windows the market cards offer, the product
page's query string, and the figures of pricing.selectors put into words and rows.

Every figure is a selector's (price_position, map_violations, price_memory,
catalogue_movements); this module only decides what the pages ask for and how the URL spells it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from dashboard.periods import LENGTHS, Period, window_label
from pricing.selectors import CurrentOffer, MemoryWindow


class MarketWindow(StrEnum):
    """The windows of MAP violations and of "what moved": the last 24 h, 7 or 30 days."""

    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"

    @classmethod
    def from_param(cls, value: str | None, default: MarketWindow) -> MarketWindow:
        """An unknown value falls back to `default` rather than failing the page."""
        try:
            return cls(value)
        except ValueError:
            return default

    @property
    def label(self) -> str:
        return short_label(self.value)

    @property
    def words(self) -> str:
        return {"24h": "the last 24 hours", "7d": "the last 7 days", "30d": "the last 30 days"}[
            self.value
        ]

    def bounds(self, *, now: datetime) -> tuple[datetime, datetime]:
        """[start, end): the window ending just after `now`, so a sync taken now counts."""
        end = now + timedelta(seconds=1)
        return end - LENGTHS[self.value], end


def short_label(value: str) -> str:
    """ "7d" → "7 d", "24h" → "24 h": the market cards' buttons, kept apart from the chart's
    "7 days" so that each control has a name of its own."""
    return f"{value[:-1]} {value[-1]}"


def memory_window(value: str | None) -> MemoryWindow:
    try:
        return MemoryWindow(value)
    except ValueError:
        return DEFAULT_MEMORY_WINDOW


DEFAULT_MAP_WINDOW = MarketWindow.WEEK
DEFAULT_MEMORY_WINDOW = MemoryWindow.QUARTER
MEMORY_WINDOWS = list(MemoryWindow)


@dataclass(frozen=True)
class ProductPageQuery:
    """What the product page shows, read from (and written back to) its URL: the chart's period
    and per-offer lines, the MAP violations' window and the long memory's window. Unknown
    values fall back to the defaults."""

    period: Period = Period.DAY
    show_offers: bool = False
    map_window: MarketWindow = DEFAULT_MAP_WINDOW
    memory_window: MemoryWindow = DEFAULT_MEMORY_WINDOW

    @classmethod
    def from_params(cls, params) -> ProductPageQuery:
        return cls(
            period=Period.from_param(params.get("period")),
            show_offers=params.get("offers") == "1",
            map_window=MarketWindow.from_param(params.get("map"), DEFAULT_MAP_WINDOW),
            memory_window=memory_window(params.get("memory")),
        )

    def url(self, **changes) -> str:
        """The query string of this page with `changes` (fields of this class) applied; the
        defaults are left out."""
        query = replace(self, **changes)
        params = {
            "period": query.period if query.period is not Period.DAY else None,
            "offers": "1" if query.show_offers else None,
            "map": query.map_window if query.map_window is not DEFAULT_MAP_WINDOW else None,
            "memory": query.memory_window
            if query.memory_window is not DEFAULT_MEMORY_WINDOW
            else None,
        }
        query_string = urlencode({k: str(v) for k, v in params.items() if v is not None})
        return f"?{query_string}" if query_string else ""

    @property
    def memory_label(self) -> str:
        return short_label(self.memory_window.value)

    # Each control's choices: "url", the whole page's URL with the choice (a link's href, for
    # pages without JavaScript), and "get", the choice alone (its hx-get: the rest of the state
    # comes from the page's URL, see dashboard.urlstate).

    def period_choices(self) -> list[dict]:
        return [
            {
                "label": p.label,
                "url": self.url(period=p),
                "get": f"?period={p}",
                "active": p is self.period,
            }
            for p in Period
        ]

    def offers_toggle_url(self) -> str:
        return self.url(show_offers=not self.show_offers)

    def offers_toggle_get(self) -> str:
        return f"?offers={0 if self.show_offers else 1}"

    def map_choices(self) -> list[dict]:
        return [
            {
                "label": w.label,
                "words": w.words,
                "url": self.url(map_window=w),
                "get": f"?map={w}",
                "active": w is self.map_window,
            }
            for w in MarketWindow
        ]

    def memory_choices(self) -> list[dict]:
        return [
            {
                "label": short_label(w.value),
                "words": "the last 24 hours" if w.value == "24h" else f"the last {window_label(w)}",
                "url": self.url(memory_window=w),
                "get": f"?memory={w}",
                "active": w is self.memory_window,
            }
            for w in MEMORY_WINDOWS
        ]


# --- The offers table: where my price falls --------------------------------------------------


def my_price_position(offers: list[CurrentOffer], my_price: int | None) -> int | None:
    """Where the "your price" row goes among the offers shown (cheapest first): after those
    strictly cheaper than my price (offers at my price share its rank, so it goes before them).
    None without a price."""
    if my_price is None:
        return None
    return sum(1 for offer in offers if offer.price < my_price)
