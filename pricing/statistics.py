"""The statistics formulas, in one place (DESIGN §3).

The sync computes them over each successful answer and stores them as a ProductSnapshot; every
reader (overview, product page, API) reads snapshots through pricing.selectors, so these are the
only lines that know what a mean or a weighted mean is.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True, slots=True)
class OfferStatistics:
    """Statistics of a set of offers. Prices in whole currency units; None when undefined."""

    offer_count: int
    total_stock: int
    min_price: int | None
    max_price: int | None
    mean_price: float | None
    median_price: float | None
    # Σ price·stock / Σ stock: what a unit in stock costs on average; None when no stock.
    weighted_mean_price: float | None


def offer_statistics(offers: Iterable[tuple[int, int]]) -> OfferStatistics:
    """Statistics of (price, items_in_stock) pairs. An empty input gives count 0 and Nones."""
    pairs = list(offers)
    prices = [price for price, _ in pairs]
    total_stock = sum(stock for _, stock in pairs)
    if not prices:
        return OfferStatistics(0, 0, None, None, None, None, None)
    weighted = sum(price * stock for price, stock in pairs) / total_stock if total_stock else None
    return OfferStatistics(
        offer_count=len(prices),
        total_stock=total_stock,
        min_price=min(prices),
        max_price=max(prices),
        mean_price=sum(prices) / len(prices),
        median_price=float(median(prices)),
        weighted_mean_price=weighted,
    )


def percentage_change(start: float | None, end: float | None) -> float | None:
    """(end − start) / start × 100, rounded to two decimals; None when undefined (no start, no
    end, or a start of 0). An unchanged value is 0.0, not None."""
    if start is None or end is None or start == 0:
        return None
    return round((end - start) / start * 100, 2)
