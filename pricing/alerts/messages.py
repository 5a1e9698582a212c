"""What a firing says: one sentence for the feed, emails and webhooks, and the figures that
triggered it (kept with the firing, shown on the product page, sent to webhooks)."""

from typing import Any

from pricing.alerts.rules import money, window_words
from pricing.models import AlertFigure, AlertKind, AlertRule


def _figure_name(rule: AlertRule) -> str:
    if rule.figure == AlertFigure.CHEAPEST_IN_STOCK:
        return f"The cheapest offer with at least {rule.min_stock} in stock"
    return {
        AlertFigure.CHEAPEST: "The cheapest offer",
        AlertFigure.MEAN: "The mean price",
        AlertFigure.WEIGHTED_MEAN: "The stock-weighted mean",
    }.get(rule.figure, "The price")


def _plural(count: int | None, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def firing_message(rule: AlertRule, row: dict[str, Any]) -> str:
    """The sentence of a firing of `rule` at the snapshot `row` (pricing.alerts.evaluation)."""
    kind, value, ref = rule.kind, row["watched"], row["compared_to"]
    if kind == AlertKind.PRICE_BELOW:
        return f"{_figure_name(rule)} is {money(value)}, below {money(rule.threshold)}."
    if kind == AlertKind.PRICE_ABOVE:
        return f"{_figure_name(rule)} is {money(value)}, above {money(rule.threshold)}."
    if kind == AlertKind.PRICE_MOVE:
        window = window_words(rule.window)
        way = "rose" if value >= ref else "fell"
        percent = f" ({(value - ref) / ref * 100:+.1f} %)" if ref else ""
        return (
            f"{_figure_name(rule)} {way} from {money(ref)} to {money(value)}{percent} "
            f"within {window}."
        )
    if kind == AlertKind.CHEAPEST_CHANGED:
        return f"Another offer is now the cheapest, at {money(row['min_price'])}."
    if kind == AlertKind.OUT_OF_STOCK:
        return "No offer has stock: the product is out of stock."
    if kind == AlertKind.BACK_IN_STOCK:
        return (
            f"Back in stock: {_plural(row['total_stock'], 'item', 'items')} across "
            f"{_plural(row['offer_count'], 'offer', 'offers')}."
        )
    if kind == AlertKind.STOCK_BELOW:
        return f"Total stock is {row['total_stock']:,}, below {rule.threshold:,}."
    if kind == AlertKind.OFFER_OUT_OF_STOCK:
        return f"{_plural(row['offers_sold_out'], 'offer', 'offers')} sold out."
    if kind == AlertKind.OFFER_BACK_IN_STOCK:
        return f"{_plural(row['offers_restocked'], 'offer is', 'offers are')} back in stock."
    if kind == AlertKind.OFFER_APPEARED:
        return (
            f"{_plural(row['offers_appeared'], 'new offer', 'new offers')}; "
            f"{row['offer_count']} in all."
        )
    if kind == AlertKind.OFFER_VANISHED:
        return (
            f"{_plural(row['offers_vanished'], 'offer', 'offers')} vanished; "
            f"{row['offer_count']} left."
        )
    days = rule.lookback.days if rule.lookback else 0
    if kind == AlertKind.NEW_LOW:
        return (
            f"The cheapest offer, {money(row['min_price'])}, is the lowest in {days} days "
            f"(the low was {money(ref)})."
        )
    return (
        f"The dearest offer, {money(row['max_price'])}, is the highest in {days} days "
        f"(the high was {money(ref)})."
    )


def firing_values(rule: AlertRule, row: dict[str, Any]) -> dict[str, Any]:
    """The figures behind a firing, JSON-ready: the snapshot's and what the rule compared."""
    values = {
        "watched": row["watched"],
        "threshold": rule.threshold,
        "reference": row["compared_to"],
        "offer_count": row["offer_count"],
        "total_stock": row["total_stock"],
        "min_price": row["min_price"],
        "max_price": row["max_price"],
        "mean_price": row["mean_price"],
        "weighted_mean_price": row["weighted_mean_price"],
    }
    if rule.kind == AlertKind.CHEAPEST_CHANGED:
        values["cheapest_offer_id"] = str(row["cheapest_offer_id"])
        values["previous_cheapest_offer_id"] = str(row["previous_cheapest"])
    for count in ("offers_appeared", "offers_vanished", "offers_sold_out", "offers_restocked"):
        if row[count]:
            values[count] = row[count]
    return {key: value for key, value in values.items() if value is not None}
