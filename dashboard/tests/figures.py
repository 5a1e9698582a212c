"""Reading the compact figures dashboard/charts.py builds, for the tests.

`expand` does in Python what static/js/charts.js does before it calls Plotly.react, so that the
tests can assert on the traces plotly draws; test_charts.py checks, in Chromium, that charts.js
expands figures into exactly these traces.
"""

from datetime import datetime, timedelta

EPOCH = datetime(1970, 1, 1)
COMPACT_KEYS = ("at", "y", "low", "high", "dots", "counts")


def wall_times(times: dict) -> list[str]:
    """The shared times as the naive ISO strings plotly is given."""
    walls = [times["start"]]
    for step in times["steps"]:
        walls.append(walls[-1] + times["unit"] * step)
    return [(EPOCH + timedelta(microseconds=wall)).isoformat() for wall in walls]


def positions(trace: dict) -> list[int]:
    """The trace's indices into the shared times, in order."""
    return [index for first, count in trace["at"] for index in range(first, first + count)]


def expand(figure: dict) -> dict:
    """The figure with ordinary plotly traces (x, y, customdata, marker sizes), as drawn."""
    if "times" not in figure:
        return figure
    times = wall_times(figure["times"])
    breaks = set(figure["times"]["breaks"])
    data = [
        trace
        if "at" not in trace
        else _band(trace, times, breaks)
        if "low" in trace
        else _counts(trace, times, breaks)
        if "counts" in trace
        else _line(trace, times, breaks)
        for trace in figure["data"]
    ]
    return {"data": data, "layout": figure["layout"]}


def _drawn(trace: dict) -> dict:
    return {key: value for key, value in trace.items() if key not in COMPACT_KEYS}


def _line(trace: dict, times: list[str], breaks: set[int]) -> dict:
    drawn = _drawn(trace)
    dots = set(trace.get("dots", ()))
    size = trace.get("marker", {}).get("size")
    x, y, sizes = [], [], []
    for position, index in enumerate(positions(trace)):
        if index in breaks and x:
            x.append(None)
            y.append(None)
            sizes.append(0)
        x.append(times[index])
        y.append(trace["y"][position])
        sizes.append(size if position in dots else 0)
    drawn |= {"x": x, "y": y}
    if "dots" in trace:
        drawn["marker"] = trace["marker"] | {"size": sizes}
    return drawn


def _counts(trace: dict, times: list[str], breaks: set[int]) -> dict:
    """The offer-count row: each [position, count] of trace["counts"] holds until the next."""
    changes = dict(trace["counts"])
    x, y, count = [], [], None
    for position, index in enumerate(positions(trace)):
        count = changes.get(position, count)
        if index in breaks and x:
            x.append(None)
            y.append(None)
        x.append(times[index])
        y.append(count)
    return _drawn(trace) | {"x": x, "y": y}


def _band(trace: dict, times: list[str], breaks: set[int]) -> dict:
    runs: list[list[tuple[str, int, int]]] = [[]]
    for position, index in enumerate(positions(trace)):
        low, high = trace["low"][position], trace["high"][position]
        defined = low is not None and high is not None
        if (not defined or index in breaks) and runs[-1]:
            runs.append([])
        if defined:
            runs[-1].append((times[index], low, high))
    x, y, customdata = [], [], []
    for run in filter(None, runs):
        if x:
            x.append(None)
            y.append(None)
            customdata.append([None, None])
        for i, (at, low, high) in enumerate([*run, *reversed(run)]):
            x.append(at)
            y.append(high if i < len(run) else low)
            customdata.append([low, high])
    return _drawn(trace) | {"x": x, "y": y, "customdata": customdata}


def compact_values(figure: dict) -> int:
    """The values the compact figure holds: every entry of its traces' y, low and high."""
    return sum(len(trace.get(key, ())) for trace in figure["data"] for key in ("y", "low", "high"))


def market_values(figure: dict) -> int:
    """The values the market view adds: the offer counts sent, and two times per shaded period
    and one price per reference line (layout shapes)."""
    counts = sum(len(trace.get("counts", ())) for trace in figure["data"])
    shapes = figure["layout"].get("shapes", [])
    return counts + sum(2 if shape["type"] == "rect" else 1 for shape in shapes)
