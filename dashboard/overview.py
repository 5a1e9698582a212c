"""The overview's query (search, sort) and rows (figures for one page of products).

Every figure and every ordering comes from pricing.selectors; this module only decides what the
page asks for and how the URL spells it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import QuerySet

from dashboard.status import StatusBadge, status_badge
from pricing.selectors import (
    CATALOGUE_CHANGE_PERIOD,
    CurrentStatistics,
    ProductOrder,
    price_change_many,
    product_stats_many,
    products_ordered,
    sparkline_many,
    sync_status,
)
from products.models import Product

# The sortable columns, in the table's order: URL key → (header, ordering).
SORTS: dict[str, tuple[str, ProductOrder]] = {
    "name": ("Name", ProductOrder.NAME),
    "mean": ("Mean price", ProductOrder.MEAN_PRICE),
    "weighted": ("Weighted mean", ProductOrder.WEIGHTED_MEAN_PRICE),
    "change": ("24 h change", ProductOrder.CHANGE),
    "offers": ("Offers", ProductOrder.OFFERS),
    "stock": ("Stock", ProductOrder.STOCK),
}
DEFAULT_SORT = "name"
HOUR = timedelta(hours=1)
SPARKLINE_HOURS = timedelta(hours=24)  # one point an hour


@dataclass(frozen=True)
class OverviewQuery:
    """What the overview shows, read from (and written back to) the URL."""

    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False

    @classmethod
    def from_params(cls, params) -> "OverviewQuery":
        search = params.get("q", "").replace("\x00", "").strip()[:200]
        sort = params.get("sort", DEFAULT_SORT)
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        if sort not in SORTS:  # an unknown column is ignored, not an error
            sort, descending = DEFAULT_SORT, False
        return cls(search=search, sort=sort, descending=descending)

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    def url(self, **changes) -> str:
        """The query string of this view with `changes` (sort=…, page=…) applied."""
        params = {"q": self.search, "sort": self.sort_param, **changes}
        if params.get("sort") == DEFAULT_SORT:
            del params["sort"]
        return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    def page_urls(self, page) -> dict[str, str]:
        return {
            "previous": self.url(page=page.previous_page_number()) if page.has_previous() else "",
            "next": self.url(page=page.next_page_number()) if page.has_next() else "",
        }

    def columns(self) -> list[dict]:
        """Header links: each sorts by its column, ascending first, toggling when active."""
        columns = []
        for key, (label, _) in SORTS.items():
            active = key == self.sort
            target = f"-{key}" if active and not self.descending else key
            columns.append(
                {
                    "key": key,
                    "label": label,
                    "url": self.url(sort=target, page=None),
                    "aria_sort": ("descending" if self.descending else "ascending")
                    if active
                    else "none",
                }
            )
        return columns

    def order(self, products: QuerySet[Product], *, now: datetime) -> QuerySet[Product]:
        return products_ordered(
            products, by=SORTS[self.sort][1], descending=self.descending, now=now
        )


@dataclass(frozen=True)
class OverviewRow:
    product: Product
    current: CurrentStatistics
    change: float | None
    sparkline: list[float | None]
    badge: StatusBadge


def overview_rows(products, *, now: datetime) -> list[OverviewRow]:
    """Figures for one page of products (their sync state joined), in three queries."""
    products = list(products)
    ids = [p.pk for p in products]
    start = now - CATALOGUE_CHANGE_PERIOD
    current = product_stats_many(product_ids=ids)
    changes = price_change_many(product_ids=ids, start=start, end=now)
    # By the hour: the last 23 whole hours and the current one (pricing's hourly roll-ups).
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    sparklines = sparkline_many(
        product_ids=ids, start=this_hour - SPARKLINE_HOURS + HOUR, end=this_hour + HOUR
    )
    return [
        OverviewRow(
            product=p,
            current=current[p.pk],
            change=changes[p.pk],
            sparkline=sparklines[p.pk],
            badge=status_badge(sync_status(p, now=now), now=now),
        )
        for p in products
    ]
