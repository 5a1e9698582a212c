"""What a product's sync status looks like to its owner (DESIGN §7: registering, synced N min
ago, error with its message, stale, suspended)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.timesince import timesince

from products.models import Product

STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class SyncStatusView:
    label: str
    tone: str  # a badge class suffix: success, info, warning, danger
    detail: str = ""  # the error message, or when it last worked


def sync_status(product: Product, *, now: datetime) -> SyncStatusView:
    Registration = Product.RegistrationState
    if product.is_suspended:
        return SyncStatusView("Suspended", "danger", product.suspension_reason)
    if product.registration_state == Registration.FAILED:
        return SyncStatusView("Registration failed", "danger", product.registration_error)
    if product.registration_state == Registration.PENDING:
        return SyncStatusView("Registering", "info", product.registration_error)
    if product.last_synced_at is None:
        if product.last_sync_error:
            return SyncStatusView("Sync error", "danger", product.last_sync_error)
        return SyncStatusView("Waiting for offers", "info")
    ago = f"synced {_ago(product.last_synced_at, now)}"
    if product.sync_failures and product.last_sync_error:
        return SyncStatusView("Sync error", "danger", f"{product.last_sync_error} (last {ago})")
    stale_after = timedelta(seconds=STALE_AFTER_INTERVALS * settings.OFFERS_SYNC_INTERVAL)
    if now - product.last_synced_at > stale_after:
        return SyncStatusView("Stale", "warning", f"Last {ago}")
    return SyncStatusView(ago[0].upper() + ago[1:], "success")


def _ago(moment: datetime, now: datetime) -> str:
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"
