"""Plotly figures of the dashboard: Python builds each figure, static/js/charts.js draws it.

A builder returns a plain JSON-able dict ({"data": [...], "layout": {...}}) for Django's
`json_script` filter, never HTML or an inline script (CSP, and HTMX swaps: STACK-NOTES, plotly).

Two facts about plotly.js (the copy we serve, checked in its source) shape this module:

- It ignores the UTC offset of a date string and plots the wall-clock time written in it. Times
  are therefore sent as naive ISO strings of the local wall-clock time in the trend's zone, so
  the chart shows the user's time whatever the browser's zone.
- It renders a subset of HTML in titles, legend names and hover labels, and `%{...}` templates in
  several of them. User text goes through `plotly_text` first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import plotly.graph_objects as go

from pricing.selectors import Bucket, OfferSeries, Trend, TrendPoint, stale_after

# The app's palette (static/css/app.css) so the chart sits in its card like the rest of the page.
FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
TEXT_COLOUR = "#172033"
MUTED_COLOUR = "#5b6579"
GRID_COLOUR = "#e8ecf3"
MEAN_COLOUR = "#1f5eff"
WEIGHTED_COLOUR = "#d9480f"
BAND_LINE_COLOUR = "rgba(31, 94, 255, 0.35)"
BAND_FILL_COLOUR = "rgba(31, 94, 255, 0.12)"
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
) -> dict[str, Any]:
    """A plotly figure of the trend as a JSON-able dict: {"data": [...], "layout": {...}}.

    Traces, in order: "Min–max", the band (see _band: the max forward then the min backward
    over each run of buckets with both, runs separated by None, customdata (min, max) per
    vertex); "Mean" and "Weighted mean" (one value per trend point, None where undefined,
    drawn as a gap); then, when show_offers, one step line per offer of trend.offers in the
    trend's order, hover-named offer_label(offer_id), one value per offer point. So the figure
    never holds more values than trend.value_count, besides the None that breaks every line
    after an outage (see _outages: the history has no bucket for them, and a line drawn
    across would show prices nobody saw). x values are naive ISO strings of the wall-clock
    time in trend.tz; the x axis spans the period (from just before younger history, see
    _axis_start) and 1 % more. No points: no traces, and a note. User text (product name,
    currency) goes through plotly_text.
    """
    tz = trend.tz
    unit = plotly_text(currency)
    price = _money("y", unit)
    after_outage = _outages(trend)
    data: list[go.Scatter] = []
    if trend.points:
        at = [point.at for point in trend.points]
        x = _broken([_wall_time(moment, tz) for moment in at], at, after_outage)
        data += [
            _band(x, _broken(trend.points, at, after_outage), unit=unit),
            _product_line(
                x,
                _broken([_finite(point.mean) for point in trend.points], at, after_outage),
                name="Mean",
                hover=f"Mean: {price}",
                line={"color": MEAN_COLOUR, "width": 2.5},
            ),
            _product_line(
                x,
                _broken([_finite(point.weighted_mean) for point in trend.points], at, after_outage),
                name="Weighted mean",  # short enough for a two-column legend on a phone
                hover=f"Stock-weighted mean: {price}",
                line={"color": WEIGHTED_COLOUR, "width": 2, "dash": "dash"},
            ),
        ]
    # Offers without product points cannot happen with price_trend; drawn alone they would
    # contradict the "no history" note.
    shown = show_offers and bool(trend.points)
    offers = [offer for offer in trend.offers if offer.points] if shown else []
    listed = len(offers) <= LEGEND_OFFERS_MAX
    data += [
        _offer_line(
            offer,
            index,
            count=len(offers),
            listed=listed,
            price=price,
            tz=tz,
            after_outage=after_outage,
        )
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
    figure = go.Figure(data=data, layout=layout)
    return _json_safe(figure.to_plotly_json())


def _outages(trend: Trend) -> frozenset[datetime]:
    """The bucket times that follow an outage (further from the previous one than
    trend.outage_gap)."""
    # In UTC: aware datetimes sharing a zone subtract as wall-clock times.
    times = [point.at.astimezone(UTC) for point in trend.points]
    return frozenset(
        later for earlier, later in itertools.pairwise(times) if later - earlier > trend.outage_gap
    )


def _broken[T](values: Sequence[T], times: Sequence[datetime], after: frozenset) -> list[T | None]:
    """`values` (one per time) with a None before each value whose time is in `after`: plotly
    ends a line at None (connectgaps=False)."""
    broken: list[T | None] = []
    for value, moment in zip(values, times, strict=True):
        if moment in after and broken:
            broken.append(None)
        broken.append(value)
    return broken


def _money(variable: str, unit: str) -> str:
    """A hovertemplate piece: the variable with thousands separators and 2 decimals, and unit."""
    return f"%{{{variable}:,.2f}} {unit}"


def _band(x: list[str | None], points: Sequence[TrendPoint | None], *, unit: str) -> go.Scatter:
    """The min–max band as one closed shape per run of buckets that have both figures (a None
    point, an outage, also ends a run).

    plotly's fill="tonexty" between a min and a max line pairs the wrong pieces once either
    line has a gap (the fill crosses the chart), so each run is drawn as a polygon instead:
    max forward, min backward, runs separated by None. That is two values per bucket, as two
    lines would be; customdata carries (min, max) for the hover.
    """
    runs: list[list[int]] = [[]]
    for index, point in enumerate(points):
        if point is None or _finite(point.min) is None or _finite(point.max) is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(index)
    xs: list[str | None] = []
    ys: list[int | None] = []
    figures: list[tuple[int | None, int | None]] = []
    for run in filter(None, runs):
        if xs:
            xs.append(None)
            ys.append(None)
            figures.append((None, None))
        for index in [*run, *reversed(run)]:
            xs.append(x[index])
            figures.append((points[index].min, points[index].max))
        ys += [points[index].max for index in run]
        ys += [points[index].min for index in reversed(run)]
    return go.Scatter(
        x=xs,
        y=ys,
        customdata=figures,
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


def _product_line(
    x: list[str | None], y: Sequence[float | int | None], *, name: str, hover: str, **style: Any
) -> go.Scatter:
    sizes = _isolated_marker_sizes(y)
    return go.Scatter(
        x=x,
        y=list(y),
        name=name,
        # A value between two gaps has no segment to draw: give it a dot, and only it.
        mode="lines+markers" if any(sizes) else "lines",
        marker={"size": sizes} if any(sizes) else None,
        connectgaps=False,
        hovertemplate=f"{hover}<extra></extra>",
        **style,
    )


def _offer_line(
    offer: OfferSeries,
    index: int,
    *,
    count: int,
    listed: bool,
    price: str,
    tz: ZoneInfo,
    after_outage: frozenset[datetime],
) -> go.Scatter:
    label = plotly_text(offer_label(offer.offer_id))
    colour = OFFER_COLOURS[index % len(OFFER_COLOURS)]
    times = [at for at, _ in offer.points]
    y = _broken([value for _, value in offer.points], times, after_outage)
    sizes = _isolated_marker_sizes(y)
    return go.Scatter(
        x=_broken([_wall_time(at, tz) for at in times], times, after_outage),
        y=y,
        # Beyond LEGEND_OFFERS_MAX only the first offer is in the legend, standing for all of
        # them (its legend entry toggles the group); the hover still names each offer.
        name=label if listed or index else f"Offers ({count})",
        showlegend=listed or index == 0,
        legendgroup="offers",
        # Prices are carried forward between observations: a step, not a slope.
        line={"shape": "hv", "width": 1, "color": colour},
        opacity=0.8,
        # A price seen once (or alone between outages) has no step to draw: a dot, as above.
        mode="lines+markers" if any(sizes) else "lines",
        marker={"size": sizes} if any(sizes) else None,
        connectgaps=False,
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


def _wall_time(moment: datetime, tz: ZoneInfo) -> str:
    """The naive ISO string of `moment`'s wall-clock time in `tz` (plotly ignores offsets)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz).replace(tzinfo=None)
    return moment.isoformat()


def _isolated_marker_sizes(values: Sequence[float | int | None]) -> list[int]:
    """A marker size per value: ISOLATED_MARKER_SIZE where both neighbours are missing, else 0."""
    last = len(values) - 1
    return [
        ISOLATED_MARKER_SIZE
        if value is not None
        and (i == 0 or values[i - 1] is None)
        and (i == last or values[i + 1] is None)
        else 0
        for i, value in enumerate(values)
    ]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


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
