"""Plotly figures of the dashboard: Python builds each figure, static/js/charts.js draws it.

A builder returns a plain JSON-able dict ({"data": [...], "layout": {...}}) for Django's
`json_script` filter, never HTML or an inline script (CSP, and HTMX swaps: STACK-NOTES, plotly).

Two facts about plotly.js (the copy we serve, checked in its source) shape this module:

- It ignores the UTC offset of a date string and plots the wall-clock time written in it. Times
  are therefore drawn as naive ISO strings of the local wall-clock time in the trend's zone, so
  the chart shows the user's time whatever the browser's zone.
- It renders a subset of HTML in titles, legend names and hover labels, and `%{...}` templates in
  several of them. User text goes through `plotly_text` first.

The price trend travels compact (see price_trend_figure): its lines share one array of times,
sent as numbers, and charts.js expands it into ordinary plotly traces before drawing. A month
of hourly points as four lines of ISO strings was most of a 120 KB page.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from pricing.selectors import (
    MAX_TREND_VALUES,
    Bucket,
    OfferSeries,
    Trend,
    TrendPoint,
    stale_after,
)

# The app's palette (static/css/app.css) so the chart sits in its card like the rest of the page.
FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
TEXT_COLOUR = "#172033"
MUTED_COLOUR = "#5b6579"
GRID_COLOUR = "#e8ecf3"
MEAN_COLOUR = "#1f5eff"
WEIGHTED_COLOUR = "#d9480f"
BAND_LINE_COLOUR = "rgba(31, 94, 255, 0.35)"
BAND_FILL_COLOUR = "rgba(31, 94, 255, 0.12)"
COUNT_COLOUR = "#5b6579"
COUNT_FILL_COLOUR = "rgba(91, 101, 121, 0.15)"
NO_STOCK_FILL_COLOUR = "rgba(198, 40, 40, 0.08)"
MAP_COLOUR = "#c62828"
MY_PRICE_COLOUR = "#1b7f4b"
# The offer-count row under the prices (a share of the plot's height) and the gap between them.
COUNT_ROW_DOMAIN = (0.0, 0.2)
PRICE_ROW_DOMAIN = (0.28, 1.0)
# Muted and distinct from the product lines: offers are context, not the headline.
OFFER_COLOURS = (
    "#7b8794",
    "#2b8a3e",
    "#9c36b5",
    "#e67700",
    "#0c8599",
    "#c2255c",
    "#5c940d",
    "#364fc7",
)

# Up to this many offers each get a legend entry; beyond, one entry toggles them all, so that a
# month of churning offers does not bury a phone-sized chart under its legend.
LEGEND_OFFERS_MAX = 4
ISOLATED_MARKER_SIZE = 6
TITLE_MAX_CHARS = 40

_HOVER_TIME_FORMAT = {
    Bucket.RAW: "%-d %b %Y, %H:%M:%S",
    Bucket.MINUTE: "%-d %b %Y, %H:%M",
    Bucket.FIVE_MINUTES: "%-d %b %Y, %H:%M",
    Bucket.FIFTEEN_MINUTES: "%-d %b %Y, %H:%M",
    Bucket.HOUR: "%-d %b %Y, %H:%M",
    Bucket.SIX_HOURS: "%-d %b %Y, %H:%M",
    Bucket.DAY: "%-d %b %Y",
    Bucket.WEEK: "week of %-d %b %Y",
    Bucket.MONTH: "%b %Y",
}


def plotly_text(text: str) -> str:
    """`text` made to show literally in a plotly title, legend name or hover label.

    Equivalent to django.utils.html.escape for plotly: plotly.js splits on tags before it
    decodes entities, so &lt;/&gt; show as < and > and no markup survives. Quotes are left
    alone because plotly.js does not decode &quot; (it would show the entity), and `%` becomes
    &#37; so that "%{...}" in a name is not read as a template.
    """
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%", "&#37;")
    )


def offer_label(offer_id: UUID) -> str:
    """The short name of an offer in charts: "Offer " and the first 8 hex digits of its id."""
    return f"Offer {offer_id.hex[:8]}"


def price_trend_figure(
    trend: Trend,
    *,
    product_name: str,
    currency: str,
    show_offers: bool,
    offer_counts: bool = False,
    my_price: int | None = None,
    map_price: int | None = None,
) -> dict[str, Any]:
    """A plotly figure of the trend as a JSON-able dict, in a compact form that
    static/js/charts.js expands into ordinary plotly traces before it draws them.

    {"data": [...], "layout": {...}, "times": {...}}. "times" holds every time a line is drawn
    at, oldest first, as the naive wall-clock time in trend.tz in integer microseconds since
    1970-01-01T00:00: "start" is the first, each next one the previous plus "unit" × its entry
    of "steps" (charts.js gives plotly each as the naive ISO string isoformat() writes); and
    "breaks", the indices of the times that follow an outage (see _outages: the history has no
    bucket for it, and a line drawn across would show prices nobody saw): every line is broken
    (a None) before them. No points: no traces, no "times", and a note.

    Traces, in order: plotly scatters without x and y, each with "at", its times as runs of
    [first index, count], oldest first:
    - "Min–max" with "low" and "high", one per time, None where undefined: drawn as one
      polygon per run of times with both figures and no outage between them (see _band);
    - "Mean" and "Weighted mean" with "y", one per trend point, None where undefined (a gap);
    - when show_offers, one step line per offer of trend.offers in the trend's order,
      hover-named offer_label(offer_id), with "y", one per offer point.
    A line's "dots" are the positions in its "y" of the values with no neighbour on the line:
    they get a marker (the trace's marker size; charts.js gives the other points size 0).

    Means are rounded to cents as the hover (",.2f") rounds them, whole prices are ints. The
    figure holds at most trend.value_count values in its "y", "low" and "high" (breaks are
    indices, not values); expanded, no more besides one None per outage and line. The x axis
    spans the period (from just before younger history, see _axis_start) and 1 % more. User
    text (product name, currency) goes through plotly_text.

    The market view (the product page) adds, when there are points (see _add_market):
    - with offer_counts, a second row under the prices on the same x axis: an "Offers" step
      line of trend point offer counts, sent as "counts", [position, count] where the count
      changes (charts.js carries each forward over the line's times), and the periods with no
      item in stock (total_stock == 0) shaded over both rows, as layout shapes;
    - my_price and map_price (whole units), when given, as labelled dashed horizontal lines.
    Those extras and the price values together stay within MAX_TREND_VALUES: when they would
    not, the counts and shading are coarsened (blocks of neighbouring points, the most offers
    of a block; a block shaded when none of its points had stock) until they fit.
    """
    unit = plotly_text(currency)
    price = _money("y", unit)
    # Offers without product points cannot happen with price_trend; drawn alone they would
    # contradict the "no history" note.
    shown = show_offers and bool(trend.points)
    offers = [offer for offer in trend.offers if offer.points] if shown else []
    listed = len(offers) <= LEGEND_OFFERS_MAX
    times = _SharedTimes.of(trend, offers)
    traces: list[tuple[go.Scatter, dict[str, Any]]] = []
    if trend.points:
        at = [point.at for point in trend.points]
        traces += [
            _band(times, at, trend.points, unit=unit),
            _product_line(
                times,
                at,
                [point.mean for point in trend.points],
                name="Mean",
                hover=f"Mean: {price}",
                line={"color": MEAN_COLOUR, "width": 2.5},
            ),
            _product_line(
                times,
                at,
                [point.weighted_mean for point in trend.points],
                name="Weighted mean",  # short enough for a two-column legend on a phone
                hover=f"Stock-weighted mean: {price}",
                line={"color": WEIGHTED_COLOUR, "width": 2, "dash": "dash"},
            ),
        ]
    traces += [
        _offer_line(times, offer, index, count=len(offers), listed=listed, price=price)
        for index, offer in enumerate(offers)
    ]
    layout = _layout(
        trend,
        # Seconds of history on an axis that short would be ticked in half seconds; any more,
        # and the first syncs of a new product would be a sliver at its right edge.
        min_span=stale_after(),
        title=product_name,
        unit=unit,
        offers_listed=listed,
        offers_truncated=show_offers and trend.offers_truncated,
    )
    figure = go.Figure(data=[scatter for scatter, _ in traces], layout=layout).to_plotly_json()
    for drawn, (_, compact) in zip(figure["data"], traces, strict=True):
        drawn.update(compact)
    if traces:
        figure["times"] = times.to_json()
    if trend.points and (offer_counts or my_price or map_price):
        _add_market(
            figure,
            trend,
            times,
            unit=unit,
            offer_counts=offer_counts,
            my_price=my_price,
            map_price=map_price,
        )
    return _json_safe(figure)


def _add_market(
    figure: dict[str, Any],
    trend: Trend,
    times: _SharedTimes,
    *,
    unit: str,
    offer_counts: bool,
    my_price: int | None,
    map_price: int | None,
) -> None:
    """The market view's additions to a built figure with points (see price_trend_figure)."""
    layout = figure["layout"]
    budget = MAX_TREND_VALUES - _values_of(figure)
    shapes = [
        _reference_line(price, f"{label}: {price:,} {unit}", colour)
        for price, label, colour in (
            (map_price, "MAP", MAP_COLOUR),
            (my_price, "My price", MY_PRICE_COLOUR),
        )
        if price
    ]
    shapes = shapes if len(shapes) <= budget else []  # a price each
    if offer_counts:
        counts, no_stock = _market_rows(trend, budget=budget - len(shapes))
        if counts is not None:
            at = [point.at for point in trend.points]
            line, compact = _count_line(times, at, counts)
            drawn = go.Figure(data=[line]).to_plotly_json()["data"][0]
            figure["data"].append(drawn | compact)
            shapes += [
                _no_stock_band(_wall_time(x0, trend.tz), _wall_time(x1, trend.tz), first=i == 0)
                for i, (x0, x1) in enumerate(no_stock)
            ]
            layout["yaxis"]["domain"] = list(PRICE_ROW_DOMAIN)
            layout["yaxis2"] = {
                "domain": list(COUNT_ROW_DOMAIN),
                "anchor": "x",
                "title": {"text": "Offers"},
                "rangemode": "tozero",
                "tickformat": ",d",
                "nticks": 3,
                "gridcolor": GRID_COLOUR,
                "zeroline": False,
                "automargin": True,
            }
            # One x axis for both rows, its ticks under the lower one.
            layout["xaxis"]["anchor"] = "y2"
    if shapes:
        layout["shapes"] = [*layout.get("shapes", []), *shapes]


def _values_of(figure: dict[str, Any]) -> int:
    return sum(len(trace.get(key, ())) for trace in figure["data"] for key in ("y", "low", "high"))


def _market_rows(
    trend: Trend, *, budget: int
) -> tuple[list[int] | None, list[tuple[datetime, datetime]]]:
    """Each point's offer count (None: no room at all), and the periods without stock, as
    [start, end) pairs of aware times, coarsened into blocks of 1, 2, 4… points until the
    changes of the count (one value each) and the periods (two each) fit `budget`."""
    points = trend.points
    block = 1
    while True:
        counts: list[int] = []
        empty: list[bool] = []
        for first in range(0, len(points), block):
            chunk = points[first : first + block]
            counts += [max(point.offer_count for point in chunk)] * len(chunk)
            empty += [all(point.total_stock == 0 for point in chunk)] * len(chunk)
        no_stock = _runs_without_stock(trend, empty)
        if len(_changes(counts)) + 2 * len(no_stock) <= budget:
            return counts, no_stock
        if block >= len(points):
            return None, []
        block *= 2


def _runs_without_stock(trend: Trend, empty: Sequence[bool]) -> list[tuple[datetime, datetime]]:
    """[start, end) of each run of points without stock: from its first point to the next
    point, or, when an outage or the end of the history follows, as long as a sync's answer
    holds (trend.outage_gap) and no later than the trend's end."""
    outages = _outages(trend)
    points = trend.points
    runs: list[tuple[datetime, datetime]] = []
    i = 0
    while i < len(points):
        if not empty[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(points) and empty[j + 1] and _instant(points[j + 1].at) not in outages:
            j += 1
        last = points[j].at
        if j + 1 < len(points) and _instant(points[j + 1].at) not in outages:
            end = points[j + 1].at
        else:
            end = min(last + trend.outage_gap, trend.end)
        runs.append((points[i].at, max(end, last)))
        i = j + 1
    return runs


def _changes(values: Sequence[int]) -> list[list[int]]:
    """[position, value] at the first value and wherever it changes."""
    return [[i, value] for i, value in enumerate(values) if i == 0 or value != values[i - 1]]


def _count_line(
    times: _SharedTimes, at: Sequence[datetime], counts: Sequence[int]
) -> tuple[go.Scatter, dict[str, Any]]:
    scatter = go.Scatter(
        name="Offers",
        yaxis="y2",
        mode="lines",
        # A count holds until the next one: a step, filled down to zero.
        line={"shape": "hv", "width": 1.5, "color": COUNT_COLOUR},
        fill="tozeroy",
        fillcolor=COUNT_FILL_COLOUR,
        connectgaps=False,
        showlegend=False,
        hovertemplate="Offers: %{y:,d}<extra></extra>",
    )
    return scatter, {"at": times.runs(at), "counts": _changes(counts)}


def _reference_line(price: int, text: str, colour: str) -> dict[str, Any]:
    """A dashed horizontal line across the price row at `price`, labelled at its right end.
    plotly widens the y axis to take it in (shapes count in autorange)."""
    return go.layout.Shape(
        type="line",
        xref="paper",
        x0=0,
        x1=1,
        yref="y",
        y0=price,
        y1=price,
        line={"color": colour, "width": 1.5, "dash": "dash"},
        label={
            "text": text,
            "textposition": "end",
            "yanchor": "bottom",
            "font": {"size": 11, "color": colour},
        },
    ).to_plotly_json()


def _no_stock_band(x0: str, x1: str, *, first: bool) -> dict[str, Any]:
    """A shaded period without stock over both rows; the first stands for all in the legend."""
    return go.layout.Shape(
        type="rect",
        xref="x",
        yref="paper",
        x0=x0,
        x1=x1,
        y0=0,
        y1=1,
        layer="below",
        fillcolor=NO_STOCK_FILL_COLOUR,
        line={"width": 0},
        name="No stock",
        legendgroup="no-stock",
        showlegend=first,
    ).to_plotly_json()


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class _SharedTimes:
    """The times the lines of a figure are drawn at, as indices: `index` maps each instant
    (UTC) to its place, oldest first; `walls` are their wall-clock microseconds in the trend's
    zone; `breaks` the indices of the times that follow an outage."""

    index: dict[datetime, int]
    walls: list[int]
    breaks: frozenset[int]

    @classmethod
    def of(cls, trend: Trend, offers: Sequence[OfferSeries]) -> _SharedTimes:
        # Each offer's points are at the product's bucket times; the union only matters for
        # a Trend built by hand. In UTC: the repeated hour when summer time ends has two
        # instants with one wall-clock time, which aware datetimes of one zone compare equal.
        instants = {_instant(point.at) for point in trend.points}
        instants.update(_instant(at) for offer in offers for at, _ in offer.points)
        index = {moment: i for i, moment in enumerate(sorted(instants))}
        return cls(
            index=index,
            walls=[_wall_microseconds(moment, trend.tz) for moment in index],
            breaks=frozenset(index[moment] for moment in _outages(trend)),
        )

    def positions(self, moments: Sequence[datetime]) -> list[int]:
        return [self.index[_instant(moment)] for moment in moments]

    def runs(self, moments: Sequence[datetime]) -> list[list[int]]:
        """The indices of `moments`, in their order, as [first, count] runs of consecutive
        indices (one run for a line without a missing time)."""
        runs: list[list[int]] = []
        for position in self.positions(moments):
            if runs and runs[-1][0] + runs[-1][1] == position:
                runs[-1][1] += 1
            else:
                runs.append([position, 1])
        return runs

    def broken_before(self, moments: Sequence[datetime]) -> list[bool]:
        """Per moment of a line: whether the line breaks before it (an outage, not at its
        first point)."""
        return [k > 0 and p in self.breaks for k, p in enumerate(self.positions(moments))]

    def to_json(self) -> dict[str, Any]:
        steps = [later - earlier for earlier, later in itertools.pairwise(self.walls)]
        # Bucket times are whole minutes, hours or days apart: steps of 1 in such a unit.
        unit = math.gcd(*steps) or 1
        return {
            "start": self.walls[0],
            "unit": unit,
            "steps": [step // unit for step in steps],
            "breaks": sorted(self.breaks),
        }


def _outages(trend: Trend) -> frozenset[datetime]:
    """The bucket times (UTC) that follow an outage (further from the previous one than
    trend.outage_gap)."""
    # In UTC: aware datetimes sharing a zone subtract as wall-clock times.
    times = [_instant(point.at) for point in trend.points]
    return frozenset(
        later for earlier, later in itertools.pairwise(times) if later - earlier > trend.outage_gap
    )


def _money(variable: str, unit: str) -> str:
    """A hovertemplate piece: the variable with thousands separators and 2 decimals, and unit."""
    return f"%{{{variable}:,.2f}} {unit}"


def _band(
    times: _SharedTimes, at: Sequence[datetime], points: Sequence[TrendPoint], *, unit: str
) -> tuple[go.Scatter, dict[str, Any]]:
    """The min–max band: charts.js draws it as one closed shape per run of buckets that have
    both figures (an outage also ends a run).

    plotly's fill="tonexty" between a min and a max line pairs the wrong pieces once either
    line has a gap (the fill crosses the chart), so each run is drawn as a polygon instead:
    max forward, min backward, runs separated by None. That is two values per bucket, as two
    lines would be; customdata carries (min, max) for the hover. Sent as "low" and "high",
    one per bucket, so the times are not sent twice.
    """
    scatter = go.Scatter(
        name="Min–max",
        legendgroup="range",
        mode="lines",
        fill="toself",
        fillcolor=BAND_FILL_COLOUR,
        line={"color": BAND_LINE_COLOUR, "width": 1},
        connectgaps=False,
        # Hover the vertices (the bucket figures), not the filled area.
        hoveron="points",
        hovertemplate=(
            f"Min–max: %{{customdata[0]:,.2f}} – {_money('customdata[1]', unit)}<extra></extra>"
        ),
    )
    return scatter, {
        "at": times.runs(at),
        "low": [_price(point.min) for point in points],
        "high": [_price(point.max) for point in points],
    }


def _line(
    times: _SharedTimes, at: Sequence[datetime], values: Sequence[float | int | None], **style: Any
) -> tuple[go.Scatter, dict[str, Any]]:
    y = [_price(value) for value in values]
    # A value between two gaps has no segment to draw: give it a dot, and only it.
    dots = _dots(y, times.broken_before(at))
    scatter = go.Scatter(
        mode="lines+markers" if dots else "lines",
        marker={"size": ISOLATED_MARKER_SIZE} if dots else None,
        connectgaps=False,
        **style,
    )
    return scatter, {"at": times.runs(at), "y": y} | ({"dots": dots} if dots else {})


def _product_line(
    times: _SharedTimes,
    at: Sequence[datetime],
    values: Sequence[float | None],
    *,
    name: str,
    hover: str,
    **style: Any,
) -> tuple[go.Scatter, dict[str, Any]]:
    return _line(times, at, values, name=name, hovertemplate=f"{hover}<extra></extra>", **style)


def _offer_line(
    times: _SharedTimes,
    offer: OfferSeries,
    index: int,
    *,
    count: int,
    listed: bool,
    price: str,
) -> tuple[go.Scatter, dict[str, Any]]:
    label = plotly_text(offer_label(offer.offer_id))
    colour = OFFER_COLOURS[index % len(OFFER_COLOURS)]
    return _line(
        times,
        [at for at, _ in offer.points],
        [value for _, value in offer.points],
        # Beyond LEGEND_OFFERS_MAX only the first offer is in the legend, standing for all of
        # them (its legend entry toggles the group); the hover still names each offer.
        name=label if listed or index else f"Offers ({count})",
        showlegend=listed or index == 0,
        legendgroup="offers",
        # Prices are carried forward between observations: a step, not a slope.
        line={"shape": "hv", "width": 1, "color": colour},
        opacity=0.8,
        # A price seen once (or alone between outages) has no step to draw: a dot, as above.
        hovertemplate=f"{label}: {price}<extra></extra>",
    )


def _layout(
    trend: Trend,
    *,
    min_span: timedelta,
    title: str,
    unit: str,
    offers_listed: bool,
    offers_truncated: bool,
) -> go.Layout:
    annotations = []
    if not trend.points:
        annotations.append(
            _note("No price history in this period", x=0.5, y=0.5, anchor=("center", "middle"))
        )
    elif offers_truncated:
        annotations.append(
            _note(
                "Only some offers are shown (too many to draw).",
                x=0,
                y=1,
                anchor=("left", "bottom"),
            )
        )
    start = _axis_start(trend, min_span=min_span)
    # 1 % past the period's end: the newest point, at the very end, would be half clipped.
    end = trend.end + (trend.end - start) / 100
    return go.Layout(
        template="none",  # the default template adds ~7 kB of settings we override anyway
        title={
            "text": plotly_text(_shorten(title, TITLE_MAX_CHARS)),
            "x": 0,
            "xanchor": "left",
            "font": {"size": 15},
        },
        autosize=True,
        margin={"l": 8, "r": 8, "t": 64 if annotations and trend.points else 44, "b": 8},
        font={"family": FONT_FAMILY, "size": 12, "color": TEXT_COLOUR},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
        hoverlabel={"font": {"family": FONT_FAMILY}},
        legend={
            # Below the chart, wrapping, so it fits a 390 px phone.
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 0,
            "yanchor": "bottom",
            "yref": "container",
            "maxheight": 0.3,
            # Groups would each take a block of their own; let the entries flow in rows.
            "traceorder": "normal",
            # Listed offers toggle one by one; the single "Offers (N)" entry toggles them all.
            "groupclick": "toggleitem" if offers_listed else "togglegroup",
            "font": {"size": 12},
        },
        xaxis={
            "type": "date",
            "range": [_wall_time(start, trend.tz), _wall_time(end, trend.tz)],
            "hoverformat": _HOVER_TIME_FORMAT.get(trend.bucket, _HOVER_TIME_FORMAT[Bucket.RAW]),
            "showgrid": False,
            "linecolor": GRID_COLOUR,
            "ticks": "outside",
            "tickcolor": GRID_COLOUR,
            "automargin": True,
        },
        yaxis={
            "title": {"text": f"Price ({unit})"},
            # Thousands separators, and decimals only where the ticks need them: a narrow
            # range (one price) ticks every 0.5, and ",.0f" labelled 292.5 as "293" twice.
            "tickformat": ",.2~f",
            "gridcolor": GRID_COLOUR,
            "zeroline": False,
            "automargin": True,
            # No prices: no made-up scale either.
            "showticklabels": bool(trend.points),
            "showgrid": bool(trend.points),
        },
        annotations=annotations,
        # Keeps the user's legend clicks and zoom when the same period is drawn again.
        uirevision=f"{trend.start.isoformat()}/{trend.end.isoformat()}/{trend.bucket}",
    )


def _note(text: str, *, x: float, y: float, anchor: tuple[str, str]) -> dict[str, Any]:
    return {
        "text": plotly_text(text),
        "xref": "paper",
        "yref": "paper",
        "x": x,
        "y": y,
        "xanchor": anchor[0],
        "yanchor": anchor[1],
        "showarrow": False,
        "font": {"size": 12, "color": MUTED_COLOUR},
    }


def _axis_start(trend: Trend, *, min_span: timedelta) -> datetime:
    """Where the time axis starts: the period's start, or a little before the first data when
    the history is younger than the period (a new product's minutes would otherwise be a
    sliver at the right edge of a day), showing at least `min_span`."""
    firsts = [trend.points[0].at] if trend.points else []
    firsts += [offer.points[0][0] for offer in trend.offers if offer.points]
    if not firsts:
        return trend.start
    first = min(firsts)
    pad = (trend.end - first) * 0.03
    return max(trend.start, min(first - pad, trend.end - min_span))


def _instant(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _wall_time(moment: datetime, tz: ZoneInfo) -> str:
    """The naive ISO string of `moment`'s wall-clock time in `tz` (plotly ignores offsets)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz).replace(tzinfo=None)
    return moment.isoformat()


def _wall_microseconds(moment: datetime, tz: ZoneInfo) -> int:
    """`moment`'s wall-clock time in `tz` as microseconds since 1970-01-01T00:00 of that clock:
    charts.js gives plotly the same string as _wall_time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz).replace(tzinfo=None)
    return (moment - _EPOCH) // _MICROSECOND


def _dots(values: Sequence[float | int | None], broken_before: Sequence[bool]) -> list[int]:
    """The positions of the values with no neighbour on their line: the values either side
    are missing (None, or none) or across an outage."""
    last = len(values) - 1
    return [
        i
        for i, value in enumerate(values)
        if value is not None
        and (i == 0 or values[i - 1] is None or broken_before[i])
        and (i == last or values[i + 1] is None or broken_before[i + 1])
    ]


_CENT = Decimal("0.01")


def _price(value: float | int | Decimal | None) -> float | int | None:
    """A price for the figure: None when undefined (None, NaN, infinite); else rounded to cents
    as the hover's ",.2f" (JavaScript's toFixed, on the exact binary value) rounds it, so the
    hover shows what it showed unrounded; an int when whole (shorter JSON)."""
    if value is None or isinstance(value, int):
        return value
    if not math.isfinite(value):
        return None
    # toFixed takes the larger of two equally near results: up for prices, which are >= 0.
    halves = ROUND_HALF_UP if value >= 0 else ROUND_HALF_DOWN
    cents = Decimal(value).quantize(_CENT, rounding=halves)
    return int(cents) if cents == cents.to_integral_value() else float(cents)


def _shorten(text: str, limit: int) -> str:
    # plotly does not wrap titles: a long name would run off a phone screen.
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _json_safe(value: Any) -> Any:
    """`value` with only JSON types: NaN and infinities → None, times → ISO, arrays → lists."""
    match value:
        case None | bool() | int() | str():
            return value
        case float():
            return value if math.isfinite(value) else None
        case Mapping():
            return {str(key): _json_safe(item) for key, item in value.items()}
        case list() | tuple():
            return [_json_safe(item) for item in value]
        case datetime() | date() | time():
            return value.isoformat()
        case Decimal():
            return _json_safe(float(value))
        case UUID():
            return str(value)
        case _ if hasattr(value, "tolist"):  # numpy arrays and scalars, should plotly make any
            return _json_safe(value.tolist())
    raise TypeError(f"Not JSON-able in a figure: {type(value).__name__}")
