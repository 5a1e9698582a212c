"""The trend engine: a product's price history over a period, bucketed in the database so that
no answer carries more than MAX_TREND_VALUES values, however long the history.

- buckets.py: the bucket sizes and how each cuts time (database and Python alike);
- planning.py: the cap, the estimates and the choice of bucket and per-offer lines;
- sources.py: which part of the period comes from the raw rows, which from the roll-ups;
- trend.py: the fetching, and price_trend itself.

The interfaces reach it through pricing.selectors.
"""

from pricing.trends.buckets import Bucket
from pricing.trends.planning import MAX_TREND_VALUES, TrendTooFine, TrendTooLarge
from pricing.trends.trend import OfferSeries, Trend, TrendPoint, price_trend

__all__ = [
    "MAX_TREND_VALUES",
    "Bucket",
    "OfferSeries",
    "Trend",
    "TrendPoint",
    "TrendTooFine",
    "TrendTooLarge",
    "price_trend",
]
