"""How a product's sync state looks on the pages: a label, a colour and a line of detail.

The state itself is pricing's (pricing.selectors.sync_status); this module only words it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.timesince import timesince

from pricing.selectors import ProductSyncStatus, SyncState

# state → (label, badge tone: a badge class suffix)
_LOOKS = {
    SyncState.SUSPENDED: ("Suspended", "danger"),
    SyncState.REGISTRATION_FAILED: ("Registration failed", "danger"),
    SyncState.REGISTERING: ("Registering", "info"),
    SyncState.AWAITING_FIRST_SYNC: ("Waiting for offers", "info"),
    SyncState.FAILING: ("Sync error", "danger"),
    SyncState.STALE: ("Stale", "warning"),
    SyncState.SYNCED: ("Synced", "success"),
}


@dataclass(frozen=True, slots=True)
class StatusBadge:
    label: str
    tone: str  # success, info, warning, danger
    detail: str = ""  # the reason or error, or when it last worked


def status_badge(status: ProductSyncStatus, *, now: datetime) -> StatusBadge:
    label, tone = _LOOKS[status.state]
    detail = status.message
    if status.last_synced_at is not None:
        ago = f"synced {_ago(status.last_synced_at, now)}"
        if status.state is SyncState.SYNCED:
            label = ago[0].upper() + ago[1:]
        elif status.state is SyncState.STALE:
            detail = f"Last {ago}"
        elif status.state is SyncState.FAILING:
            detail = f"{detail} (last {ago})"
    return StatusBadge(label, tone, detail)


def _ago(moment: datetime, now: datetime) -> str:
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"
