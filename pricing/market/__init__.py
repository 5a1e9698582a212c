"""Market position (DESIGN §10): where the owner's price stands among the offers, who sells
below their minimum advertised price (MAP) and for how long, what moved in their catalogue, and
the long memory of a product's prices (extremes with dates, time-weighted means, volatility).

Figures of pricing's selectors (re-exported by pricing.selectors): computed in the database
from the history and its roll-ups, one implementation for pages, the API and exports.
"""
