"""The overview's query (search, sort) and rows (statistics for one page of products).

Every figure comes from pricing.selectors; this module only decides what the page asks for.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import F, OuterRef, QuerySet, Subquery

from dashboard.status import SyncStatusView, sync_status
from pricing.models import ProductSnapshot
from pricing.selectors import (
    CurrentStatistics,
    price_change_many,
    product_stats_many,
    sparkline_many,
)
from products.models import Product

CHANGE_PERIOD = timedelta(hours=24)


def _latest_snapshot(field: str) -> Subquery:
    return Subquery(
        ProductSnapshot.objects.filter(product=OuterRef("pk"))
        .order_by("-taken_at", "-id")
        .values(field)[:1]
    )


# The sortable columns: key → the ordering of its ascending direction. Columns that read the
# latest snapshot sort in the database; "change" is computed by the selector and sorted here.
SORTS: dict[str, tuple[str, object]] = {
    "name": ("Name", "name"),
    "mean": ("Mean price", _latest_snapshot("mean_price")),
    "weighted": ("Weighted mean", _latest_snapshot("weighted_mean_price")),
    "change": ("24 h change", None),
    "offers": ("Offers", _latest_snapshot("offer_count")),
    "stock": ("Stock", _latest_snapshot("total_stock")),
}
DEFAULT_SORT = "name"


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

    def order(self, products: QuerySet[Product], *, now: datetime) -> QuerySet | list[Product]:
        ordering = SORTS[self.sort][1]
        if ordering is None:
            return self._order_by_change(products, now=now)
        expression = F(ordering) if isinstance(ordering, str) else ordering
        expression = (
            expression.desc(nulls_last=True) if self.descending else expression.asc(nulls_last=True)
        )
        return products.order_by(expression, "name", "pk")

    def _order_by_change(self, products: QuerySet[Product], *, now: datetime) -> list[Product]:
        # The change is a selector's computation over snapshots, so it is sorted here, over the
        # user's catalogue (one query for the changes, one for the products).
        products = list(products.order_by("name", "pk"))
        changes = price_change_many(
            product_ids=[p.pk for p in products], start=now - CHANGE_PERIOD, end=now
        )
        with_change = [p for p in products if changes[p.pk] is not None]
        without = [p for p in products if changes[p.pk] is None]
        with_change.sort(key=lambda p: changes[p.pk], reverse=self.descending)
        return with_change + without  # undefined changes last, either way


@dataclass(frozen=True)
class OverviewRow:
    product: Product
    current: CurrentStatistics
    change: float | None
    sparkline: list[float | None]
    status: SyncStatusView


def overview_rows(products, *, now: datetime) -> list[OverviewRow]:
    """Statistics for one page of products, in a constant number of queries."""
    products = list(products)
    ids = [p.pk for p in products]
    start = now - CHANGE_PERIOD
    current = product_stats_many(product_ids=ids)
    changes = price_change_many(product_ids=ids, start=start, end=now)
    sparklines = sparkline_many(product_ids=ids, start=start, end=now)
    return [
        OverviewRow(
            product=p,
            current=current[p.pk],
            change=changes[p.pk],
            sparkline=sparklines[p.pk],
            status=sync_status(p, now=now),
        )
        for p in products
    ]
