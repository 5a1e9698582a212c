"""Formatting for the dashboard: prices, changes, sparklines, sync status, times, durations and
sync runs."""

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma, naturaltime, ordinal
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()

UNDEFINED = "—"


@register.filter
def price(value, decimals: int = 2) -> str:
    """12345.5 → "12,345.50 CZK"; None → "—" (undefined, never 0)."""
    if value is None:
        return UNDEFINED
    return f"{value:,.{int(decimals)}f} {settings.PRICE_CURRENCY}"


@register.filter
def number(value) -> str:
    """Whole numbers with thousands separators; None → "—"."""
    if value is None:
        return UNDEFINED
    return intcomma(value)


@register.filter
def change(value) -> str:
    """A percentage change with its direction: +1.25 % ▲, −0.50 % ▼, 0.00 %; None → "—"."""
    if value is None:
        return format_html('<span class="muted" title="Not enough history">{}</span>', UNDEFINED)
    if value > 0:
        return format_html('<span class="up">▲ +{} %</span>', f"{value:,.2f}")
    if value < 0:
        return format_html('<span class="down">▼ −{} %</span>', f"{-value:,.2f}")
    return mark_safe('<span class="muted">0.00 %</span>')  # a constant: nothing to escape


@register.simple_tag
def sparkline(values, width: int = 120, height: int = 28):
    """An inline SVG line of `values` (None makes a gap); an empty one when nothing is known."""
    known = [v for v in values if v is not None]
    if not known:
        return format_html(
            '<svg class="sparkline" width="{}" height="{}" role="img" aria-label="No history yet">'
            "</svg>",
            width,
            height,
        )
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    pad = 2
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        x = index * step
        y = pad + (height - 2 * pad) * (1 - (value - low) / span if high != low else 0.5)
        segments[-1].append(f"{x:.1f},{y:.1f}")
    lines = [(" ".join(points),) for points in segments if len(points) > 1]
    dots = [points[0].split(",") for points in segments if len(points) == 1]
    trend = "up" if known[-1] > known[0] else "down" if known[-1] < known[0] else "flat"
    return format_html(
        '<svg class="sparkline sparkline-{}" width="{}" height="{}" viewBox="0 0 {} {}" '
        'role="img" aria-label="Mean price over the last 24 hours, from {} to {}">{}{}</svg>',
        trend,
        width,
        height,
        width,
        height,
        price(known[0]),
        price(known[-1]),
        format_html_join("", '<polyline points="{}" />', lines),
        format_html_join("", '<circle cx="{}" cy="{}" r="1.5" />', dots),
    )


@register.filter
def duration(value) -> str:
    """A timedelta as people read it: "0.4 s", "42 s", "3 min 5 s", "2 h 10 min"; None → "—"."""
    if value is None:
        return UNDEFINED
    seconds = value.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min"


@register.simple_tag
def run_outcome_bar(run, width: int = 90, height: int = 10):
    """A sync run's products as one stacked bar: synced, failed, skipped; the part still to do
    stays empty. An SVG, like the sparklines: no script, no inline style."""
    total = max(run.products_total, 1)
    x = 0.0
    rects = []
    for kind, count in (
        ("synced", run.products_synced),
        ("failed", run.products_failed),
        ("skipped", run.products_skipped),
    ):
        part = width * min(count, total) / total
        if part:
            rects.append((kind, f"{x:.2f}", f"{part:.2f}", height))
        x += part
    return format_html(
        '<svg class="run-bar" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="{} synced, {} failed, {} skipped of {}">'
        '<rect class="run-bar-track" width="{}" height="{}" />{}</svg>',
        width,
        height,
        width,
        height,
        run.products_synced,
        run.products_failed,
        run.products_skipped,
        run.products_total,
        width,
        height,
        format_html_join("", '<rect class="run-bar-{}" x="{}" width="{}" height="{}" />', rects),
    )


@register.simple_tag
def time_ago(moment, empty: str = UNDEFINED):
    """How far `moment` is from now, "3 minutes ago" or "2 minutes from now", with its date and
    time in the active time zone as a tooltip; `empty` when it is None."""
    if moment is None:
        return format_html('<span class="muted">{}</span>', empty)
    local = timezone.localtime(moment)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}",
        naturaltime(moment),
    )


@register.filter
def percent(value) -> str:
    """An index as a percentage: 104.5 → "104.50 %"; None → "—"."""
    if value is None:
        return UNDEFINED
    return f"{value:,.2f} %"


@register.filter
def minutes(value) -> str:
    """A time in minutes (float) as people read it, to the minute: "17 min", "2 h 5 min",
    "3 d 4 h"; under half a minute "< 1 min"; None → "—"."""
    if value is None:
        return UNDEFINED
    whole = round(value)
    if whole < 1:
        return "< 1 min"
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def rank(position) -> str:
    """A PricePosition's rank in words: "2nd of 7"; "—" when undefined."""
    if position is None or position.rank is None:
        return UNDEFINED
    return f"{ordinal(position.rank)} of {position.rank_of}"


@register.filter
def rank_short(position) -> str:
    """A PricePosition's rank for a table cell: "1 / 5"; "—" when undefined."""
    if position is None or position.rank is None:
        return UNDEFINED
    return f"{position.rank} / {position.rank_of}"
