"""Formatting for the dashboard: prices, changes, sparklines, sync status."""

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import intcomma
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
