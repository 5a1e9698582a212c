from django.conf import settings
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from accounts.decorators import is_staff_member
from pricing.selectors import scheduler_status


def site(request):
    """What every page's frame shows: the price currency, the zone times are shown in, and how
    often the header's unread-alerts badge refreshes (it loads its count itself, so that pages
    pay no query for it)."""
    return {
        "PRICE_CURRENCY": settings.PRICE_CURRENCY,
        "TIME_ZONE_NAME": timezone.get_current_timezone_name(),
        "ALERTS_REFRESH_SECONDS": settings.DASHBOARD_REFRESH_SECONDS,
    }


def staff(request):
    """For staff, the scheduler's status behind the stale-scheduler banner (ours and the
    admin's). Lazy: only a page that renders the banner pays its one query, and other users'
    pages get nothing."""
    user = getattr(request, "user", None)
    if user is None or not is_staff_member(user):
        return {}
    return {"scheduler_status": SimpleLazyObject(lambda: scheduler_status(now=timezone.now()))}
