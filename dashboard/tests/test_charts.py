"""The price-trend figure (dashboard/charts.py) and the script that draws it (static/js/charts.js).

Most tests build Trend objects directly, for exact control of gaps, zones and offers; one reads
a trend that real syncs (store_offers) wrote, so the chart is checked against the selectors'
own figures. The builder sends a compact figure that charts.js expands into plotly traces:
most tests assert on the traces plotly draws (figure_of, expanded as charts.js does by
dashboard/tests/figures.py), some on the compact form itself (compact_of). The last tests run
in Chromium with the plotly.js we serve: charts.js expands figures exactly as figures.py does,
and the two facts the module relies on (plotly shows the wall-clock time written in a date
string and renders markup in titles) are plotly.js behaviour, not Python's.
"""

import dataclasses
import html
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.utils import timezone
from django.utils.html import json_script
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.charts import (
    ISOLATED_MARKER_SIZE,
    LEGEND_OFFERS_MAX,
    TITLE_MAX_CHARS,
    offer_label,
    plotly_text,
    price_trend_figure,
)
from dashboard.tests.figures import compact_values, expand, market_values, wall_times
from pricing.selectors import Bucket, OfferSeries, Trend, TrendPoint, price_trend

ROOT = Path(__file__).resolve().parents[2]
CHARTS_JS = ROOT / "static" / "js" / "charts.js"
PRAGUE = ZoneInfo("Europe/Prague")
NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2025, 7, 1, 8, tzinfo=UTC)  # 10:00 in Prague (summer time), 04:00 in New York
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
XSS = "<img src=x onerror=alert(1)>"


# --- Building trends -----------------------------------------------------------------------------


def point(at, mean, *, weighted=None, low=None, high=None, tz=PRAGUE) -> TrendPoint:
    """A trend point; weighted, low and high follow the mean unless given (None mean: all None)."""
    if mean is None:
        return TrendPoint(at.astimezone(tz), None, None, None, None, 0, 0)
    return TrendPoint(
        at=at.astimezone(tz),
        mean=mean,
        weighted_mean=mean - 1 if weighted is None else weighted,
        min=math.floor(mean) - 10 if low is None else low,
        max=math.ceil(mean) + 10 if high is None else high,
        offer_count=2,
        total_stock=10,
    )


def trend_of(points, offers=(), *, tz=PRAGUE, bucket=Bucket.HOUR, truncated=False, start=None):
    times = [p.at for p in points] or [T0]
    return Trend(
        start=(start or min(times) - H).astimezone(tz),
        end=(max(times) + H).astimezone(tz),
        bucket=bucket,
        tz=tz,
        points=list(points),
        offers=list(offers),
        change=None,
        offers_truncated=truncated,
    )


def offer_series(*prices, start=T0, tz=PRAGUE) -> OfferSeries:
    return OfferSeries(
        offer_id=uuid.uuid4(),
        points=[((start + H * i).astimezone(tz), price) for i, price in enumerate(prices)],
    )


def compact_of(
    trend, *, name="Kettle", currency="CZK", show_offers=True, sync_interval=MINUTE
) -> dict:
    """The figure as the page sends it."""
    # The sync interval decides what counts as an outage (a gap in the lines).
    with override_settings(OFFERS_SYNC_INTERVAL=sync_interval.total_seconds()):
        return price_trend_figure(
            trend, product_name=name, currency=currency, show_offers=show_offers
        )


def figure_of(trend, **options) -> dict:
    """The figure as plotly draws it: expanded as charts.js does."""
    return expand(compact_of(trend, **options))


def cents(values):
    """What the figure holds for the trend's means: cents (the hover shows two decimals)."""
    return pytest.approx(values, abs=0.005)


# --- Reading figures -----------------------------------------------------------------------------


def trace(figure, name):
    [match] = [t for t in figure["data"] if t["name"] == name]
    return match


def offer_traces(figure):
    return [t for t in figure["data"] if t.get("legendgroup") == "offers"]


def band_by_time(figure) -> dict[str, tuple[int, int]]:
    """The band's (min, max) per x, read from its polygons, checking their shape on the way:
    each run is the max forward and the min backward over the same times."""
    if not figure["data"]:
        return {}
    band = trace(figure, "Min–max")
    assert band["fill"] == "toself"
    figures: dict[str, tuple[int, int]] = {}
    xs, ys, custom = band["x"], band["y"], band["customdata"]
    runs, run = [], []
    for index, x in enumerate([*xs, None]):
        if x is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(index)
    for run in runs:
        half = len(run) // 2
        forward, backward = run[:half], run[half:]
        assert [xs[i] for i in forward] == [xs[i] for i in reversed(backward)]
        for f, b in zip(forward, reversed(backward), strict=True):
            low, high = custom[f]
            assert (ys[f], ys[b]) == (high, low) and custom[b] == [low, high]
            figures[xs[f]] = (low, high)
    return figures


def values_in(figure) -> int:
    return sum(len(t["y"]) for t in figure["data"])


def wall(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).replace(tzinfo=None).isoformat()


def plotly_shows(text: str) -> str:
    """What plotly.js displays for a text without tags: the entities it decodes, decoded."""
    return html.unescape(text)


# --- The figures are the trend's figures ---------------------------------------------------------


def test_product_lines_carry_the_trends_figures():
    trend = trend_of(
        [
            point(T0, 100.5, weighted=99.25, low=90, high=120),
            point(T0 + H, 101.0, weighted=None, low=91, high=121),
            point(T0 + 2 * H, None),  # a bucket whose snapshots had no offers
            point(T0 + 3 * H, 1234567.891, weighted=1234000.0, low=1200000, high=1300000),
        ]
    )
    figure = figure_of(trend)
    x = [wall(p.at, PRAGUE) for p in trend.points]
    assert [t["name"] for t in figure["data"]] == ["Min–max", "Mean", "Weighted mean"]
    assert trace(figure, "Mean")["x"] == x
    assert trace(figure, "Mean")["y"] == cents([p.mean for p in trend.points])
    assert trace(figure, "Weighted mean")["y"] == cents([p.weighted_mean for p in trend.points])
    assert band_by_time(figure) == {
        wall(p.at, PRAGUE): (p.min, p.max) for p in trend.points if p.min is not None
    }


def test_undefined_figures_are_gaps_not_zeros():
    trend = trend_of([point(T0, 100.0), point(T0 + H, None), point(T0 + 2 * H, 102.0)])
    figure = figure_of(trend)
    for name in ("Mean", "Weighted mean"):
        assert trace(figure, name)["y"][1] is None
        assert trace(figure, name)["connectgaps"] is False
    band = trace(figure, "Min–max")
    assert band["x"].count(None) == 1  # two runs: one separator, no value for the empty bucket
    assert len(band_by_time(figure)) == 2


def test_a_value_between_gaps_gets_a_dot_and_only_it():
    trend = trend_of(
        [point(T0, 100.0), point(T0 + H, None), point(T0 + 2 * H, 102.0), point(T0 + 3 * H, 103.0)]
    )
    figure = figure_of(trend)
    mean = trace(figure, "Mean")
    assert mean["mode"] == "lines+markers"
    assert [size > 0 for size in mean["marker"]["size"]] == [True, False, False, False]
    connected = figure_of(trend_of([point(T0, 1.0), point(T0 + H, 2.0)]))
    assert trace(connected, "Mean")["mode"] == "lines"


# --- The compact form: what the page sends --------------------------------------------------------


def wall_microseconds(naive: datetime) -> int:
    return (naive - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def test_the_lines_share_one_array_of_times_sent_as_numbers():
    hours = [T0 + H * i for i in range(6)]
    trend = trend_of(
        [point(t, 100.0 + i) for i, t in enumerate(hours)],
        [offer_series(1, 2, 3, start=T0 + 2 * H)],
    )
    figure = compact_of(trend)
    # 10:00 on the Prague wall clock as microseconds, then one hour after another.
    assert figure["times"] == {
        "start": wall_microseconds(datetime(2025, 7, 1, 10)),
        "unit": 3600 * 10**6,
        "steps": [1] * 5,
        "breaks": [],
    }
    assert wall_times(figure["times"]) == [wall(t, PRAGUE) for t in hours]
    band, mean, weighted, offer = figure["data"]
    assert band["at"] == mean["at"] == weighted["at"] == [[0, 6]]
    assert band["low"] == [p.min for p in trend.points]
    assert band["high"] == [p.max for p in trend.points]
    assert mean["y"] == [p.mean for p in trend.points]
    assert offer["at"] == [[2, 3]] and offer["y"] == [1, 2, 3]  # its buckets: the 3rd to 5th
    # No x values and no polygon: charts.js builds them.
    assert all("x" not in t and "customdata" not in t for t in figure["data"])
    assert compact_values(figure) == trend.value_count


def test_outages_are_sent_as_indices_not_values():
    times = [T0, T0 + H, T0 + 5 * H, T0 + 6 * H]
    figure = compact_of(trend_of([point(t, 100.0) for t in times]))
    assert figure["times"]["steps"] == [1, 4, 1]
    assert figure["times"]["breaks"] == [2]  # every line breaks before the third time
    assert trace(figure, "Mean")["y"] == [100, 100, 100, 100]
    assert "dots" not in trace(figure, "Mean")  # every value has a neighbour


@pytest.mark.parametrize(
    ("mean", "sent"),
    [
        (1234.5678, 1234.57),
        (100.125, 100.13),  # half a cent exactly: toFixed rounds up (Python's round() would not)
        (0.125, 0.13),
        (2.675, 2.67),  # 2.67499999…: less than half a cent
        (99.999, 100),  # whole: an int
        (10_000_000.004, 10_000_000),
    ],
)
def test_means_are_sent_in_cents_as_the_hover_shows_them(mean, sent):
    [value] = trace(compact_of(trend_of([point(T0, mean, weighted=mean)])), "Mean")["y"]
    assert value == sent and type(value) is type(sent)


def test_times_keep_their_microseconds():
    taken = [T0 + timedelta(seconds=61 * i, microseconds=123456 * i) for i in range(3)]
    trend = trend_of([point(t, 1.0) for t in taken], bucket=Bucket.RAW)
    x = trace(figure_of(trend), "Mean")["x"]
    assert x == [wall(t, PRAGUE) for t in taken]
    assert x[:2] == ["2025-07-01T10:00:00", "2025-07-01T10:01:01.123456"]


def test_a_month_of_hourly_points_costs_a_few_bytes_a_value():
    hours = [T0 + H * i for i in range(30 * 24)]
    offers = [
        OfferSeries(
            uuid.uuid4(),
            [(t.astimezone(PRAGUE), 1000 + k * 10 + i % 13) for i, t in enumerate(hours)],
        )
        for k in range(2)
    ]
    trend = trend_of([point(t, 1000 + i / 7) for i, t in enumerate(hours)], offers)
    sent = len(str(json_script(compact_of(trend), "price-figure")))
    drawn = len(json.dumps(figure_of(trend)))
    assert sent < 10 * trend.value_count  # ISO times were 22 bytes each, on four lines
    assert sent * 4 < drawn


# --- Outages: no bucket, no line ------------------------------------------------------------------


def test_an_outage_breaks_every_line_instead_of_bridging_it():
    """Four hours without a snapshot between 10:00 and 15:00 (Prague): no line crosses them."""
    times = [T0, T0 + H, T0 + 5 * H, T0 + 6 * H]
    seen = OfferSeries(uuid.uuid4(), [(t.astimezone(PRAGUE), 100 + i) for i, t in enumerate(times)])
    figure = figure_of(trend_of([point(t, 100.0 + i) for i, t in enumerate(times)], [seen]))

    x = ["2025-07-01T10:00:00", "2025-07-01T11:00:00", None]
    x += ["2025-07-01T15:00:00", "2025-07-01T16:00:00"]
    for name, y in (("Mean", [100.0, 101.0, None, 102.0, 103.0]), ("Weighted mean", None)):
        line = trace(figure, name)
        assert line["x"] == x and line["connectgaps"] is False
        if y:
            assert line["y"] == y
    [offer] = offer_traces(figure)
    assert offer["x"] == x and offer["y"] == [100, 101, None, 102, 103]
    band = trace(figure, "Min–max")
    assert band["x"].count(None) == 1  # two polygons
    assert list(band_by_time(figure)) == [value for value in x if value]


@pytest.mark.parametrize(
    ("bucket", "step", "interval", "broken"),
    [
        (Bucket.RAW, 3 * MINUTE, MINUTE, False),  # two syncs missed: not yet stale
        (Bucket.RAW, 4 * MINUTE, MINUTE, True),
        (Bucket.RAW, 4 * MINUTE, 2 * MINUTE, False),  # a longer interval allows more
        (Bucket.MINUTE, 4 * MINUTE, MINUTE, False),
        (Bucket.MINUTE, 5 * MINUTE, MINUTE, True),
        (Bucket.FIVE_MINUTES, 8 * MINUTE, MINUTE, False),
        (Bucket.FIVE_MINUTES, 9 * MINUTE, MINUTE, True),
        (Bucket.HOUR, H + 3 * MINUTE, MINUTE, False),
        (Bucket.HOUR, 2 * H, MINUTE, True),
        (Bucket.DAY, 25 * H, MINUTE, False),  # the day summer time ends
        (Bucket.DAY, 48 * H, MINUTE, True),
    ],
)
def test_an_outage_is_longer_than_the_bucket_and_three_sync_intervals(
    bucket, step, interval, broken
):
    trend = trend_of([point(T0, 1.0), point(T0 + step, 2.0)], bucket=bucket)
    y = trace(figure_of(trend, sync_interval=interval), "Mean")["y"]
    assert y == ([1.0, None, 2.0] if broken else [1.0, 2.0])


def test_a_point_alone_between_outages_gets_a_dot():
    times = [T0, T0 + 3 * H, T0 + 6 * H, T0 + 7 * H]
    compact = compact_of(trend_of([point(t, 100.0) for t in times]))
    assert trace(compact, "Mean")["dots"] == [0, 1]  # positions in its y
    mean = trace(expand(compact), "Mean")
    assert mean["y"] == [100.0, None, 100.0, None, 100.0, 100.0]
    assert [size > 0 for size in mean["marker"]["size"]] == [True, False, True, False, False, False]


@pytest.mark.django_db
def test_chart_data_equal_the_selectors_figures(make_product, store_offers):
    """Real syncs write the history; the chart shows exactly what price_trend answers."""
    product = make_product("Kettle")
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - 6 * H
    a, b = uuid.uuid4(), uuid.uuid4()
    answers = [
        (start + timedelta(minutes=5), [(a, 1000, 5), (b, 1300, 1)]),
        (start + timedelta(minutes=35), [(a, 1100, 5), (b, 1300, 1)]),
        (start + H + timedelta(minutes=5), [(a, 1100, 4)]),
        (start + 2 * H + timedelta(minutes=5), []),  # sold out: a snapshot without figures
        (start + 4 * H + timedelta(minutes=5), [(b, 1250, 3)]),
    ]
    for at, offers in answers:
        store_offers(product, offers, at=at)
    trend = price_trend(
        product=product, start=start, end=start + 6 * H, tz=PRAGUE, bucket=Bucket.HOUR
    )
    assert len(trend.points) == 4 and trend.offers  # the history is what the test meant

    # Hourly syncs: the missing hour is not an outage (those are tested above).
    figure = figure_of(trend, sync_interval=H)

    x = [wall(p.at, PRAGUE) for p in trend.points]
    assert trace(figure, "Mean")["x"] == x
    assert trace(figure, "Mean")["y"] == cents([p.mean for p in trend.points])
    assert trace(figure, "Weighted mean")["y"] == cents([p.weighted_mean for p in trend.points])
    assert band_by_time(figure) == {
        wall(p.at, PRAGUE): (p.min, p.max) for p in trend.points if p.min is not None
    }
    drawn = offer_traces(figure)
    assert len(drawn) == len(trend.offers)
    for line, series in zip(drawn, trend.offers, strict=True):
        assert line["x"] == [wall(at, PRAGUE) for at, _ in series.points]
        assert line["y"] == [price for _, price in series.points]
        assert offer_label(series.offer_id) in line["hovertemplate"]
    assert values_in(figure) <= trend.value_count
    assert compact_values(compact_of(trend, sync_interval=H)) == trend.value_count


# --- Time zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        (PRAGUE, "2025-07-01T10:00:00"),
        (NEW_YORK, "2025-07-01T04:00:00"),
        (UTC, "2025-07-01T08:00:00"),
    ],
)
def test_x_values_are_wall_clock_times_in_the_users_zone(tz, expected):
    trend = trend_of([point(T0, 100.0, tz=tz)], [offer_series(100, tz=tz)], tz=tz)
    figure = figure_of(trend)
    assert trace(figure, "Mean")["x"] == [expected]
    assert offer_traces(figure)[0]["x"] == [expected]
    # No offset: plotly.js would ignore it anyway, and the browser's zone must not matter.
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", x) for x in trace(figure, "Mean")["x"]
    )
    # The axis ends just past the period (1 % of the span), so the newest point is not clipped.
    start, end = (datetime.fromisoformat(x) for x in figure["layout"]["xaxis"]["range"])
    span = trend.end.astimezone(tz).replace(tzinfo=None) - start
    assert end == trend.end.astimezone(tz).replace(tzinfo=None) + span / 100
    assert figure["layout"]["xaxis"]["type"] == "date"


def test_the_time_axis_starts_at_the_period_or_just_before_younger_history():
    old = trend_of([point(T0 + H, 100.0)], start=T0 - 48 * H)
    assert range_start(old) > wall(old.start, old.tz)  # starts just before the first data
    assert range_start(old) < wall(T0 + H, old.tz)
    full = trend_of([point(T0 + i * H, 100.0) for i in range(24)], start=T0)
    assert range_start(full) == wall(full.start, full.tz)  # history fills the period
    # Seconds of history still get a readable axis: three sync intervals (what makes stale).
    new = trend_of([point(T0, 100.0)], start=T0 - 48 * H)
    new = dataclasses.replace(new, end=(T0 + timedelta(seconds=5)).astimezone(PRAGUE))
    assert range_start(new) == wall(new.end - 3 * MINUTE, PRAGUE)
    short = figure_of(new, sync_interval=timedelta(seconds=2))["layout"]["xaxis"]["range"][0]
    assert short == wall(new.end - timedelta(seconds=6), PRAGUE)


def range_start(trend):
    return figure_of(trend)["layout"]["xaxis"]["range"][0]


def test_times_in_another_zone_are_converted_to_the_trends_zone():
    """TrendPoint.at is in the trend's zone already; a UTC time is still drawn in local time."""
    trend = trend_of([TrendPoint(T0, 1.0, 1.0, 1, 1, 1, 1)], tz=PRAGUE)
    assert trace(figure_of(trend), "Mean")["x"] == ["2025-07-01T10:00:00"]


def test_an_outage_into_the_repeated_hour_breaks_the_lines():
    # 01:00 (+02:00), then nothing until the second 02:00 (+01:00): two hours without a sync.
    first = datetime(2025, 10, 25, 23, tzinfo=UTC)
    trend = trend_of([point(first, 100.0), point(first + 2 * H, 101.0)])
    mean = trace(figure_of(trend), "Mean")
    assert mean["x"] == ["2025-10-26T01:00:00", None, "2025-10-26T02:00:00"]


def test_the_repeated_hour_at_the_end_of_summer_time_keeps_both_buckets():
    # 02:00–03:00 happens twice in Prague on 26 October 2025: once at +02:00, once at +01:00.
    first = datetime(2025, 10, 26, 0, tzinfo=UTC)
    trend = trend_of([point(first + H * i, 100.0 + i) for i in range(3)])
    mean = trace(figure_of(trend), "Mean")
    assert mean["x"] == ["2025-10-26T02:00:00", "2025-10-26T02:00:00", "2025-10-26T03:00:00"]
    assert mean["y"] == [100.0, 101.0, 102.0]


@pytest.mark.parametrize(
    ("bucket", "shown"),
    [
        (Bucket.RAW, "%H:%M:%S"),
        (Bucket.MINUTE, "%H:%M"),
        (Bucket.FIVE_MINUTES, "%H:%M"),
        (Bucket.FIFTEEN_MINUTES, "%H:%M"),
        (Bucket.DAY, "%Y"),
    ],
)
def test_the_hover_shows_the_time_to_the_buckets_precision(bucket, shown):
    hoverformat = figure_of(trend_of([point(T0, 1.0)], bucket=bucket))["layout"]["xaxis"][
        "hoverformat"
    ]
    assert hoverformat.endswith(shown)
    assert figure_of(trend_of([point(T0, 1.0)]))["layout"]["hovermode"] == "x unified"


# --- Offers --------------------------------------------------------------------------------------


def test_one_step_line_per_offer_only_when_asked():
    offers = [offer_series(100, 100, 120), offer_series(90, start=T0 + H)]
    trend = trend_of([point(T0 + H * i, 100.0) for i in range(3)], offers)

    without = figure_of(trend, show_offers=False)
    assert offer_traces(without) == []
    assert len(without["data"]) == 3

    lines = offer_traces(figure_of(trend, show_offers=True))
    assert len(lines) == len(offers)
    for line, series in zip(lines, offers, strict=True):
        assert line["name"] == offer_label(series.offer_id) == f"Offer {series.offer_id.hex[:8]}"
        assert line["line"]["shape"] == "hv"
        assert line["y"] == [price for _, price in series.points]
        assert line["hovertemplate"].startswith(f"{line['name']}: %{{y:,.2f}} CZK")
    assert lines[1]["mode"] == "lines+markers"  # a single point is a dot, not an invisible line
    assert lines[1]["marker"]["size"] == [ISOLATED_MARKER_SIZE]


def test_many_offers_share_one_legend_entry():
    offers = [offer_series(100 + i) for i in range(LEGEND_OFFERS_MAX + 1)]
    figure = figure_of(trend_of([point(T0, 100.0)], offers))
    lines = offer_traces(figure)
    assert [line["showlegend"] for line in lines] == [True] + [False] * LEGEND_OFFERS_MAX
    assert lines[0]["name"] == f"Offers ({len(offers)})"
    assert figure["layout"]["legend"]["groupclick"] == "togglegroup"
    # The hover still names each offer.
    for line, series in zip(lines, offers, strict=True):
        assert line["hovertemplate"].startswith(offer_label(series.offer_id))

    few = figure_of(trend_of([point(T0, 100.0)], offers[:LEGEND_OFFERS_MAX]))
    assert all(line["showlegend"] for line in offer_traces(few))
    assert few["layout"]["legend"]["groupclick"] == "toggleitem"


def test_truncated_offers_are_noted_when_offers_are_shown():
    trend = trend_of([point(T0, 100.0)], [offer_series(100)], truncated=True)
    notes = [a["text"] for a in figure_of(trend)["layout"]["annotations"]]
    assert notes == ["Only some offers are shown (too many to draw)."]
    assert figure_of(trend, show_offers=False)["layout"].get("annotations", []) == []


# --- User text -----------------------------------------------------------------------------------


def test_a_product_name_with_markup_stays_text():
    figure = figure_of(trend_of([point(T0, 100.0)], [offer_series(100)]), name=XSS)
    title = figure["layout"]["title"]["text"]
    assert "<" not in title and ">" not in title
    assert title == "&lt;img src=x onerror=alert(1)&gt;"
    assert plotly_shows(title) == XSS


def test_user_text_never_reaches_plotly_as_markup():
    figure = figure_of(
        trend_of([point(T0, 100.0)], [offer_series(100)], truncated=True),
        name=f"<b>Bold</b> {XSS}",
        currency="<i>K</i>",
    )
    texts = [figure["layout"]["title"]["text"], figure["layout"]["yaxis"]["title"]["text"]]
    texts += [a["text"] for a in figure["layout"]["annotations"]]
    for line in figure["data"]:
        texts += [line["name"], line["hovertemplate"].removesuffix("<extra></extra>")]
    for text in texts:
        assert "<" not in text and ">" not in text, text
    assert figure["layout"]["yaxis"]["title"]["text"] == "Price (&lt;i&gt;K&lt;/i&gt;)"


@pytest.mark.parametrize(
    "name",
    ['Tom\'s "best" kettle', "AT&T 100 % & more", "&lt;already escaped&gt;", "50%{y} off"],
)
def test_names_show_exactly_as_typed(name):
    title = figure_of(trend_of([point(T0, 1.0)]), name=name)["layout"]["title"]["text"]
    assert plotly_shows(title) == name
    assert "%{" not in title  # plotly would read it as a template
    assert "&quot;" not in title  # plotly.js does not decode &quot;: it would show it


def test_plotly_text_escapes_what_plotly_reads():
    assert plotly_text("a<b>&c%{y}\"'") == "a&lt;b&gt;&amp;c&#37;{y}\"'"


def test_long_names_are_shortened_before_escaping():
    name = "<" * (TITLE_MAX_CHARS + 10)
    title = figure_of(trend_of([point(T0, 1.0)]), name=name)["layout"]["title"]["text"]
    assert plotly_shows(title) == "<" * (TITLE_MAX_CHARS - 1) + "…"
    assert title.endswith("&lt;…")  # never a half entity


# --- Units, layout -------------------------------------------------------------------------------


def test_the_currency_is_in_the_axis_title_and_every_hover():
    figure = figure_of(trend_of([point(T0, 1.0)], [offer_series(1)]), currency="EUR")
    layout = figure["layout"]
    assert layout["yaxis"]["title"]["text"] == "Price (EUR)"
    assert layout["yaxis"]["tickformat"] == ",.2~f"
    for line in figure["data"]:
        assert re.search(r":,\.2f} EUR<extra></extra>$", line["hovertemplate"]), line["name"]
    assert "%{y:,.2f} EUR" in trace(figure, "Mean")["hovertemplate"]


def test_the_layout_fits_a_phone():
    layout = figure_of(trend_of([point(T0, 1.0)]))["layout"]
    assert layout["autosize"] is True
    assert "width" not in layout and "height" not in layout  # the container decides
    assert layout["legend"]["orientation"] == "h"
    assert layout["legend"]["yanchor"] == "bottom" and layout["legend"]["y"] == 0


# --- Empty trends, JSON --------------------------------------------------------------------------


def test_an_empty_trend_is_a_valid_figure_without_traces():
    trend = trend_of([], [offer_series(100)])
    figure = figure_of(trend)
    assert figure["data"] == []
    assert [a["text"] for a in figure["layout"]["annotations"]] == [
        "No price history in this period"
    ]
    json.dumps(figure, allow_nan=False)


def test_the_figure_is_plain_json_through_json_script():
    trend = trend_of(
        [
            point(T0, 100.0),
            TrendPoint(T0.astimezone(PRAGUE) + H, math.nan, math.inf, None, None, 0, 0),
        ],
        [offer_series(100, 101)],
    )
    figure = compact_of(trend, name=f"</script>{XSS}")
    assert json.loads(json.dumps(figure, allow_nan=False)) == figure
    assert trace(expand(figure), "Mean")["y"] == [100.0, None]
    assert trace(expand(figure), "Weighted mean")["y"] == [99.0, None]

    tag = str(json_script(figure, "chart-data"))
    assert tag.count("</script>") == 1  # the name cannot close the element early
    body = re.fullmatch(r'<script id="chart-data" type="application/json">(.*)</script>', tag)
    assert json.loads(body.group(1)) == figure


# --- Size ----------------------------------------------------------------------------------------

maybe = st.one_of(st.none(), st.floats(min_value=1, max_value=1e7, allow_nan=False))


@settings(max_examples=60)
@given(
    means=st.lists(maybe, max_size=40),
    offers=st.lists(st.integers(min_value=1, max_value=40), max_size=8),
    show_offers=st.booleans(),
    outages=st.sets(st.integers(min_value=0, max_value=39)),
)
def test_the_figure_never_holds_more_values_than_the_trend(means, offers, show_offers, outages):
    # Hourly buckets, with an outage of a further hour before each index in `outages`.
    times = [T0 + H * (i + sum(1 for o in outages if o <= i)) for i in range(40)]
    trend = trend_of(
        [point(times[i], mean) for i, mean in enumerate(means)],
        [
            OfferSeries(uuid.uuid4(), [(times[i].astimezone(PRAGUE), 100 + i) for i in range(n)])
            for n in offers
        ],
    )
    compact = compact_of(trend, show_offers=show_offers)
    # As sent: exactly the trend's values (outages are indices, not values).
    assert compact_values(compact) <= trend.value_count
    json.dumps(compact, allow_nan=False)
    figure = expand(compact)
    # As drawn: besides the Nones that break lines after an outage, at most one per outage
    # and line.
    separators = sum(1 for o in outages if 0 < o < len(means)) * len(figure["data"])
    assert values_in(figure) <= trend.value_count + separators
    assert sum(v is not None for t in figure["data"] for v in t["y"]) <= trend.value_count
    assert band_by_time(figure) == {
        wall(p.at, PRAGUE): (p.min, p.max) for p in trend.points if p.min is not None
    }


# --- static/js/charts.js -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_charts_js_parses():
    result = subprocess.run(
        ["node", "--check", str(CHARTS_JS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_charts_js_has_no_globals_and_no_inline_html():
    source = CHARTS_JS.read_text()
    assert source.lstrip().startswith("//")
    assert '(function () {\n  "use strict";' in source
    assert source.rstrip().endswith("})();")
    assert "innerHTML" not in source and "eval(" not in source


# --- In a browser --------------------------------------------------------------------------------

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Playwright's event loop stays running in the test thread once started, and Django's ORM then
# refuses every later query (as in e2e/conftest.py, which sets the same when it is collected).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
ORIGIN = "http://charts.test"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<script src="/static/htmx.min.js" defer></script>
<script src="/static/vendor/plotly.min.js" defer></script>
<script src="/static/js/charts.js" defer></script>
<style>.price-chart {{ height: 420px; }}</style>
</head><body>
{panel}
<div class="price-chart" data-figure="chart-broken"></div>
<script type="application/json" id="chart-broken">{{not json</script>
</body></html>"""
# The chart partial as the product page will swap it: period links replace the whole panel.
PANEL = """<section id="price-chart-panel">
<a href="/?period=next" hx-get="/?period=next" hx-target="#price-chart-panel"
   hx-swap="outerHTML" hx-push-url="true">Next period</a>
<div class="price-chart" data-figure="price-trend-data">The chart needs JavaScript.</div>
{figure}
</section>"""


@pytest.fixture
def chromium_page(playwright):
    """A page in Debian's Chromium, from pytest-playwright's session-wide Playwright (a second
    sync Playwright in the same process would refuse to start)."""
    if not CHROMIUM.exists():
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM}.")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}.")
    home = tempfile.mkdtemp(prefix="charts-chromium-")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        env={**os.environ, "XDG_CONFIG_HOME": home, "XDG_CACHE_HOME": home},
    )
    # A browser far from the user's zone: the chart must still show the user's times.
    context = browser.new_context(
        viewport={"width": 390, "height": 800}, timezone_id="Pacific/Auckland"
    )
    yield context.new_page()
    browser.close()
    shutil.rmtree(home, ignore_errors=True)


def static_files() -> dict[str, Path]:
    """The scripts of the test pages, by URL."""
    plotly_js = finders.find("vendor/plotly.min.js")
    assert plotly_js, "the plotly.js finder serves vendor/plotly.min.js"
    htmx_js = finders.find("django_htmx/htmx-2.min.js")  # what {% htmx_script %} serves
    return {
        "/static/htmx.min.js": Path(htmx_js),
        "/static/vendor/plotly.min.js": Path(plotly_js),
        "/static/js/charts.js": CHARTS_JS,
    }


# What charts.js gave plotly: the traces of the drawn chart.
DRAWN_TRACES = """() => document.querySelector('[data-figure=price-trend-data]').data.map(t => ({
  name: t.name, x: t.x, y: t.y, customdata: t.customdata ?? null, mode: t.mode ?? null,
  marker: t.marker ?? null, keys: Object.keys(t).sort(),
}))"""


@pytest.mark.e2e
def test_charts_js_expands_the_compact_figure_as_figures_py_does(chromium_page):
    """Gaps, outages, dots, offers with holes, summer time ending and microseconds: charts.js
    gives plotly the traces figures.expand gives the tests, and the rounded means show in
    the hover (toFixed) as the means themselves would."""
    # Prague, 25–26 October 2025: summer time ends at 03:00 (+02:00), 02:00 comes again.
    first = datetime(2025, 10, 25, 20, tzinfo=UTC)
    times = [first + H * i for i in (0, 1, 2, 3, 4, 5, 6, 9, 10, 12, 13)]
    times[1] += timedelta(microseconds=123456)  # RAW snapshots keep theirs
    means = [1000.125, 1001.0049, None, 2.675, 1234567.891, 1003.5, None, 7.0, None, 8.0, 9.0]
    trend = trend_of(
        [point(t, mean) for t, mean in zip(times, means, strict=True)],
        [
            OfferSeries(
                uuid.uuid4(), [(t.astimezone(PRAGUE), 990 + i) for i, t in enumerate(times)]
            ),
            OfferSeries(uuid.uuid4(), [(times[i].astimezone(PRAGUE), 1000) for i in (2, 3, 5, 9)]),
        ],
    )
    compact = compact_of(trend)
    assert compact["times"]["breaks"]  # the history meant: outages, repeated hour, holes
    assert len(set(wall_times(compact["times"]))) < len(times)
    page = chromium_page
    files = static_files()

    def serve(route):
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/":
            panel = PANEL.format(figure=json_script(compact, "price-trend-data"))
            route.fulfill(body=PAGE.format(panel=panel), content_type="text/html")
        elif path in files:
            route.fulfill(path=files[path])
        else:
            route.fulfill(status=404)

    page.route(f"{ORIGIN}/**", serve)
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{ORIGIN}/")
    page.locator('[data-figure="price-trend-data"] .main-svg').first.wait_for()

    drawn = page.evaluate(DRAWN_TRACES)
    expected = expand(compact)["data"]
    assert [t["name"] for t in drawn] == [t["name"] for t in expected]
    for got, want in zip(drawn, expected, strict=True):
        assert got["x"] == want["x"], want["name"]
        assert got["y"] == want["y"], want["name"]
        assert got["customdata"] == want.get("customdata"), want["name"]
        assert got["mode"] == want["mode"] and got["marker"] == want.get("marker"), want["name"]
        assert not {"at", "low", "high", "dots"} & set(got["keys"]), want["name"]
    sent = [v for v in trace(compact, "Mean")["y"] if v is not None]
    exact = [m for m in means if m is not None]
    to_fixed = "values => values.map(v => v.toFixed(2))"
    assert page.evaluate(to_fixed, sent) == page.evaluate(to_fixed, exact)
    assert problems == []


@pytest.mark.e2e
def test_charts_draw_in_a_browser_with_local_times_and_text_titles(chromium_page):
    page = chromium_page
    trend = trend_of(  # history fills the period, so the axis spans exactly [start, end)
        [point(T0 + H * i, 1000.0 + i) for i in range(6)],
        [offer_series(990, 995, 1000)],
        start=T0,
    )
    name = f'{XSS}<b>"%{{y}}"'  # within TITLE_MAX_CHARS, so shown whole
    figure = compact_of(trend, name=name)
    files = static_files()

    def serve(route):
        path = route.request.url.removeprefix(ORIGIN)
        if path in ("/", "/?period=next"):
            shown = figure if path == "/" else compact_of(trend, name="Next period")
            panel = PANEL.format(figure=json_script(shown, "price-trend-data"))
            is_htmx = route.request.headers.get("hx-request") == "true"
            route.fulfill(
                body=panel if is_htmx else PAGE.format(panel=panel),
                content_type="text/html",
                # A strict script policy: everything must come from files, nothing inline.
                headers={"Content-Security-Policy": "script-src 'self'"},
            )
        elif path in files:
            route.fulfill(path=files[path])
        else:
            route.fulfill(status=404)

    page.route(f"{ORIGIN}/**", serve)
    problems, warnings, dialogs = [], [], []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console", lambda m: {"warning": warnings, "error": problems}.get(m.type, []).append(m.text)
    )
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{ORIGIN}/")
    chart = page.locator('[data-figure="price-trend-data"]')
    chart.locator(".main-svg").first.wait_for()

    # The title is the name as typed, as text: no element made of it, no script run.
    assert chart.locator(".gtitle").text_content() == name
    assert chart.locator("img").count() == 0 and chart.locator(".gtitle b").count() == 0
    assert "needs JavaScript" not in chart.text_content()
    # Hover: Prague wall-clock time (T0 + 2 h = 12:00 in Prague, 00:00 in Auckland).
    box = chart.locator(".nsewdrag").first.bounding_box()
    x_of = (T0 + 2 * H - trend.start) / (trend.end - trend.start)
    page.mouse.move(box["x"] + box["width"] * x_of, box["y"] + box["height"] / 2)
    hover = chart.locator(".hoverlayer")
    hover.get_by_text("Mean: 1,002.00 CZK").wait_for()
    assert "1 Jul 2025, 12:00" in hover.text_content()
    assert "Min–max: 992.00 – 1,012.00 CZK" in hover.text_content()
    # Price ticks: thousands separators; decimals only where needed, so never two alike.
    ticks = chart.locator(".ytick text").all_text_contents()
    assert "1,000" in ticks and all("." not in tick for tick in ticks)
    page.evaluate(
        "Plotly.relayout(document.querySelector('[data-figure=price-trend-data]'),"
        " {'yaxis.range': [291, 293]})"
    )
    narrow = chart.locator(".ytick text").all_text_contents()
    assert len(narrow) > 2 and len(set(narrow)) == len(narrow) and "291.5" in narrow, narrow
    # The broken figure is a warning, not an error, and the other chart still drew.
    [warning] = warnings  # once, though htmx:load reaches it again
    assert "chart-broken" in warning and "not valid JSON" in warning

    # A period link swaps the panel: the new chart is drawn (htmx:load), the old one purged.
    page.evaluate(
        "window.oldChart = document.querySelector('.price-chart[data-figure=price-trend-data]')"
    )
    # Marks the plot's markup, which htmx's history snapshot (taken before the swap) keeps.
    page.evaluate("oldChart.querySelector('.plot-container').dataset.stale = 'yes'")
    page.get_by_text("Next period").click()
    page.locator(".gtitle", has_text="Next period").wait_for()
    assert page.evaluate(
        "!document.contains(oldChart) && oldChart._fullLayout === undefined"
        " && oldChart.querySelector('.main-svg') === null"
    )
    assert page.locator(".price-chart .gtitle").all_text_contents() == ["Next period"]
    # Back: htmx restores its snapshot, which holds the old plot's markup but no live plot.
    page.go_back()
    page.locator(".gtitle", has_text=XSS).wait_for()
    assert page.locator(".price-chart .plot-container").count() == 1
    assert page.locator(".price-chart [data-stale]").count() == 0  # drawn afresh, not over it
    assert problems == [] and dialogs == []


# --- The market view: offer counts, periods without stock, reference lines --------------------


def market_point(at, mean, *, offers=2, stock=10, tz=PRAGUE) -> TrendPoint:
    return dataclasses.replace(point(at, mean, tz=tz), offer_count=offers, total_stock=stock)


def market_compact(trend, *, my_price=None, map_price=None, sync_interval=MINUTE) -> dict:
    with override_settings(OFFERS_SYNC_INTERVAL=sync_interval.total_seconds()):
        return price_trend_figure(
            trend,
            product_name="Kettle",
            currency="CZK",
            show_offers=True,
            offer_counts=True,
            my_price=my_price,
            map_price=map_price,
        )


def test_the_offer_count_is_a_second_row_on_the_same_time_axis():
    counts = [3, 3, 4, 0, 2, 2]
    trend = trend_of(
        [market_point(T0 + H * i, 100.0, offers=n, stock=n) for i, n in enumerate(counts)]
    )
    compact = market_compact(trend)
    offers = trace(compact, "Offers")
    assert offers["counts"] == [[0, 3], [2, 4], [3, 0], [4, 2]]  # sent where it changes
    assert offers["yaxis"] == "y2" and offers["line"]["shape"] == "hv"
    assert "y" not in offers  # the counts are not sent once per point
    drawn = trace(expand(compact), "Offers")
    assert drawn["y"] == counts and drawn["x"] == trace(expand(compact), "Mean")["x"]
    layout = compact["layout"]
    # One x axis for both rows, its ticks under the lower one.
    assert layout["xaxis"]["anchor"] == "y2" and layout["yaxis2"]["anchor"] == "x"
    assert layout["yaxis2"]["domain"][1] < layout["yaxis"]["domain"][0]
    assert layout["yaxis2"]["title"]["text"] == "Offers"
    # The price lines are sent as before.
    assert compact_values(compact) == trend.value_count


def test_the_count_line_breaks_at_an_outage_as_the_price_lines_do():
    times = [T0, T0 + H, T0 + 5 * H, T0 + 6 * H]
    trend = trend_of([market_point(t, 100.0, offers=2) for t in times])
    drawn = expand(market_compact(trend))
    assert trace(drawn, "Offers")["y"] == [2, 2, None, 2, 2]
    assert trace(drawn, "Offers")["x"] == trace(drawn, "Mean")["x"]


def test_periods_without_stock_are_shaded_over_both_rows():
    stock = [5, 0, 0, 5, 0]
    trend = trend_of([market_point(T0 + H * i, 100.0, stock=s) for i, s in enumerate(stock)])
    shapes = [s for s in market_compact(trend)["layout"]["shapes"] if s["type"] == "rect"]
    assert [(s["x0"], s["x1"]) for s in shapes] == [
        (wall(T0 + H, PRAGUE), wall(T0 + 3 * H, PRAGUE)),  # until the sync that found stock
        # The last point: as long as a sync's answer holds, within the period.
        (wall(T0 + 4 * H, PRAGUE), wall(trend.end, PRAGUE)),
    ]
    assert all(s["yref"] == "paper" and (s["y0"], s["y1"]) == (0, 1) for s in shapes)
    assert [s["showlegend"] for s in shapes] == [True, False]  # one legend entry for them all
    assert {s["name"] for s in shapes} == {"No stock"}


def test_my_price_and_the_map_are_labelled_dashed_lines():
    trend = trend_of([market_point(T0, 1000.0)])
    layout = market_compact(trend, my_price=1100, map_price=12345)["layout"]
    lines = {s["label"]["text"]: s for s in layout["shapes"] if s["type"] == "line"}
    assert set(lines) == {"MAP: 12,345 CZK", "My price: 1,100 CZK"}
    for price, line in ((12345, lines["MAP: 12,345 CZK"]), (1100, lines["My price: 1,100 CZK"])):
        assert (line["y0"], line["y1"], line["yref"]) == (price, price, "y")
        assert (line["x0"], line["x1"], line["xref"]) == (0, 1, "paper")
        assert line["line"]["dash"] == "dash"
    without = market_compact(trend)["layout"]
    assert [s["type"] for s in without.get("shapes", [])] == []


def test_nothing_is_added_without_points_or_unless_asked():
    empty = market_compact(trend_of([]), my_price=10, map_price=5)
    assert empty["data"] == [] and "shapes" not in empty["layout"]
    assert "yaxis2" not in empty["layout"]
    plain = compact_of(trend_of([market_point(T0, 1.0, stock=0)]))
    assert [t["name"] for t in plain["data"]] == ["Min–max", "Mean", "Weighted mean"]
    assert "yaxis2" not in plain["layout"] and "shapes" not in plain["layout"]


@settings(max_examples=40)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=40),
    cap=st.integers(min_value=0, max_value=200),
)
def test_the_market_view_stays_within_the_cap_of_values(counts, cap):
    trend = trend_of(
        [market_point(T0 + H * i, 100.0, offers=n, stock=n) for i, n in enumerate(counts)]
    )
    with override_settings(OFFERS_SYNC_INTERVAL=60):
        import dashboard.charts as charts

        original = charts.MAX_TREND_VALUES
        charts.MAX_TREND_VALUES = trend.value_count + cap
        try:
            compact = market_compact(trend, map_price=100)
        finally:
            charts.MAX_TREND_VALUES = original
    assert compact_values(compact) + market_values(compact) <= trend.value_count + cap
    offers = [t for t in compact["data"] if t["name"] == "Offers"]
    if offers:  # coarsened in blocks: each drawn count is the most offers of its block
        drawn = trace(expand(compact), "Offers")["y"]
        assert all(shown >= real for shown, real in zip(drawn, counts, strict=True))
        assert max(drawn) == max(counts)
    else:  # no room for the MAP's line (one value, served first) and one count (and, when
        # there never was stock, its shading)
        assert cap < 1 + 1 + 2 * all(n == 0 for n in counts)


@pytest.mark.e2e
def test_charts_js_expands_the_offer_counts_as_figures_py_does(chromium_page):
    times = [T0 + H * i for i in (0, 1, 2, 5, 6, 7)]
    trend = trend_of(
        [
            market_point(t, 100.0 + i, offers=n, stock=n)
            for i, (t, n) in enumerate(zip(times, [2, 2, 0, 3, 3, 1], strict=True))
        ]
    )
    compact = market_compact(trend, my_price=101, map_price=99)
    page = chromium_page
    files = static_files()

    def serve(route):
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/":
            panel = PANEL.format(figure=json_script(compact, "price-trend-data"))
            route.fulfill(body=PAGE.format(panel=panel), content_type="text/html")
        elif path in files:
            route.fulfill(path=files[path])
        else:
            route.fulfill(status=404)

    page.route(f"{ORIGIN}/**", serve)
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{ORIGIN}/")
    chart = page.locator('[data-figure="price-trend-data"]')
    chart.locator(".main-svg").first.wait_for()
    drawn = {t["name"]: t for t in page.evaluate(DRAWN_TRACES)}
    expected = trace(expand(compact), "Offers")
    assert drawn["Offers"]["x"] == expected["x"] and drawn["Offers"]["y"] == expected["y"]
    assert "counts" not in drawn["Offers"]["keys"]
    # Both rows and the labelled lines are drawn.
    assert chart.locator(".ytick").count() > 0 and chart.locator(".y2tick").count() > 0
    labels = chart.locator(".shapelayer text, .shape-label").all_text_contents()
    assert "MAP: 99 CZK" in " ".join(labels) and "My price: 101 CZK" in " ".join(labels)
    assert problems == []
