"""Alerts (DESIGN §10): rules on a product's prices, stock and offers, evaluated in bulk in the
sync's store transaction, with noise control, and delivered to a feed, by email and to webhooks.

- rules: the kinds' parameters, their one validation, and how rules and firings are described;
- conditions: each kind's condition as one SQL expression over a snapshot, shared by the live
  evaluation and the back-test, so the two cannot disagree;
- evaluation: the sync's side: conditions of the stored snapshots, noise control, firings;
- backtest: how often a rule would have fired over the last 30 days, computed in the database;
- delivery: emails (at once, held for quiet hours, daily digests) and signed webhooks.
"""
