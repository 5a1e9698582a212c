"""Delivery of firings: emails and signed webhooks. (Being written.)"""


def alerts_deliver(*, firing_ids: list[int]) -> None:
    """Send what is due now of these firings."""
