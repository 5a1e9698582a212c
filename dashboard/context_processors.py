from django.conf import settings
from django.utils import timezone


def site(request):
    """What every page's frame shows: the price currency and the zone times are shown in."""
    return {
        "PRICE_CURRENCY": settings.PRICE_CURRENCY,
        "TIME_ZONE_NAME": timezone.get_current_timezone_name(),
    }
