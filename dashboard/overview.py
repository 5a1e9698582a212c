"""The overview's query (search, sort, the "what moved" filter) and rows (figures for one page of
products), and the "what moved" panel.

Every figure, filter and ordering comes from pricing.selectors; this module only decides what
the page asks for and how the URL spells it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import QuerySet

from dashboard.market import MarketWindow
from dashboard.status import StatusBadge, status_badge
from pricing.selectors import (
    CATALOGUE_CHANGE_PERIOD,
    CatalogueMovements,
    CurrentStatistics,
    Movement,
    PricePosition,
    ProductOrder,
    catalogue_movements,
    price_change_many,
    price_position_many,
    product_stats_many,
    products_moved,
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
    "my-price": ("My price", ProductOrder.MY_PRICE),
    "rank": ("Rank", ProductOrder.RANK),
    "index": ("Index", ProductOrder.INDEX_TO_MIN),
}
# What the market columns' headers mean, for their tooltips.
SORT_TITLES = {
    "rank": "Where your price ranks among the current offers (1: nobody is cheaper)",
    "index": "Your price ÷ the cheapest offer, in percent (above 100 %: you are dearer)",
}
DEFAULT_SORT = "name"
DEFAULT_WITHIN = MarketWindow.DAY
# Changing any of these starts again at page 1.
RESETS_PAGE = ("q", "sort", "moved", "within")


def overview_params(params: dict[str, str], own) -> dict[str, str]:
    """The overview's parameters for a request: `params` (the page's URL with the request's
    `own` over it, dashboard.urlstate), without the page when the request changes the
    search, sort or filter."""
    if any(key in own for key in RESETS_PAGE) and "page" not in own:
        params = {key: value for key, value in params.items() if key != "page"}
    return params


HOUR = timedelta(hours=1)
SPARKLINE_HOURS = timedelta(hours=24)  # one point an hour


@dataclass(frozen=True)
class OverviewQuery:
    """What the overview shows, read from (and written back to) the URL."""

    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False
    # "What moved": only the products where `moved` happened within the last `within`.
    moved: Movement | None = None
    within: MarketWindow = DEFAULT_WITHIN

    @classmethod
    def from_params(cls, params) -> "OverviewQuery":
        search = params.get("q", "").replace("\x00", "").strip()[:200]
        sort = params.get("sort", DEFAULT_SORT)
        descending = sort.startswith("-")
        sort = sort.removeprefix("-")
        if sort not in SORTS:  # an unknown column is ignored, not an error
            sort, descending = DEFAULT_SORT, False
        try:
            moved = Movement(params.get("moved"))
        except ValueError:  # none, or an unknown movement: no filter
            moved = None
        within = MarketWindow.from_param(params.get("within"), DEFAULT_WITHIN)
        return cls(search=search, sort=sort, descending=descending, moved=moved, within=within)

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    def url(self, **changes) -> str:
        """The query string of this view with `changes` (sort=…, page=…, moved=…, within=…)
        applied; defaults are left out."""
        params = {
            "q": self.search,
            "sort": self.sort_param,
            "moved": self.moved,
            "within": self.within,
            **changes,
        }
        if params.get("sort") == DEFAULT_SORT:
            del params["sort"]
        if params.get("within") == DEFAULT_WITHIN:
            del params["within"]
        return "?" + urlencode({k: str(v) for k, v in params.items() if v not in ("", None)})

    def hidden_fields(self) -> list[tuple[str, str]]:
        """What the search form sends besides the search: the sort and the filter."""
        fields = [("sort", self.sort_param)] if self.sort_param != DEFAULT_SORT else []
        if self.moved:
            fields.append(("moved", str(self.moved)))
        if self.within != DEFAULT_WITHIN:
            fields.append(("within", str(self.within)))
        return fields

    @property
    def unfiltered_url(self) -> str:
        return self.url(moved=None, within=None, page=None)

    @property
    def filter_label(self) -> str:
        """The filter in words, for its chip: "Price drops in the last 7 days"."""
        return f"{self.moved.label} in {self.within.words}" if self.moved else ""

    def filter(self, products: QuerySet[Product], *, now: datetime) -> QuerySet[Product]:
        if self.moved is None:
            return products
        start, end = self.within.bounds(now=now)
        return products_moved(products, movement=self.moved, start=start, end=end)

    def page_urls(self, page) -> dict[str, str]:
        return {
            "previous": self.url(page=page.previous_page_number()) if page.has_previous() else "",
            "next": self.url(page=page.next_page_number()) if page.has_next() else "",
        }

    # A link's hx-get sends only what it changes; the rest comes from the page's URL
    # (dashboard.urlstate), and a change of anything but the page starts at page 1.
    def page_gets(self, page) -> dict[str, str]:
        return {
            "previous": f"?page={page.previous_page_number()}" if page.has_previous() else "",
            "next": f"?page={page.next_page_number()}" if page.has_next() else "",
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
                    "title": SORT_TITLES.get(key, ""),
                    "url": self.url(sort=target, page=None),
                    "get": f"?sort={target}",
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
    position: PricePosition


def overview_rows(products, *, now: datetime) -> list[OverviewRow]:
    """Figures for one page of products (their sync state joined), in five queries."""
    products = list(products)
    ids = [p.pk for p in products]
    start = now - CATALOGUE_CHANGE_PERIOD
    current = product_stats_many(product_ids=ids)
    positions = price_position_many(product_ids=ids)
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
            position=positions[p.pk],
        )
        for p in products
    ]


@dataclass(frozen=True)
class MovedLink:
    movement: Movement
    label: str
    events: int
    products: int
    url: str
    get: str
    active: bool


@dataclass(frozen=True)
class MovedPanel:
    """The "what moved" panel: each movement's counts over the query's window, each linking
    to the product table filtered to it (keeping the search and sort), and the windows."""

    movements: CatalogueMovements
    links: list[MovedLink]
    windows: list[dict]


def moved_panel(*, owner, query: OverviewQuery, now: datetime) -> MovedPanel:
    """Two queries (catalogue_movements)."""
    start, end = query.within.bounds(now=now)
    movements = catalogue_movements(owner=owner, start=start, end=end)
    links = [
        MovedLink(
            movement=count.movement,
            label=count.movement.label,
            events=count.events,
            products=count.products,
            url=query.url(moved=count.movement, page=None),
            get=f"?moved={count.movement}&within={query.within}",
            active=count.movement == query.moved,
        )
        for count in movements.counts
    ]
    return MovedPanel(movements=movements, links=links, windows=moved_windows(query))


def moved_windows(query: OverviewQuery) -> list[dict]:
    """The panel's windows: each a link to the page with it (and an hx-get of it alone)."""
    return [
        {
            "label": window.label,
            "words": window.words,
            "url": query.url(within=window, page=None),
            "get": f"?within={window}",
            "active": window is query.within,
        }
        for window in MarketWindow
    ]
