"""`manage.py offers_check`: is the Offers service reachable, and does it accept our refresh token?

For people setting up a deployment: it authenticates (reusing the stored access token while it is
valid, exactly as the app does) and asks for the offers of a random product id, then prints what
it learned. Exits non-zero with the client's message when anything fails.
"""

from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from pricing.offers_client import OffersError, get_offers_client


class Command(BaseCommand):
    help = (
        "Check the Offers service: authenticate with OFFERS_REFRESH_TOKEN (reusing the stored "
        "access token if it is still valid) and make one call; print the URL, the token's "
        "expiry in UTC and the latencies."
    )

    def handle(self, *args, **options) -> None:
        client = get_offers_client()
        self.stdout.write(f"Offers service:  {client.base_url}")
        try:
            result = client.check()
        except OffersError as error:
            raise CommandError(str(error)) from error

        if result.token_obtained:
            took = f" in {_ms(result.auth_seconds)}" if result.auth_seconds is not None else ""
            token_line = f"new one obtained{took} (the stored one was missing or expired)"
        else:
            token_line = "stored one reused (still valid)"
        self.stdout.write(f"Access token:    {token_line}")
        expires = result.token_expires_at.astimezone(UTC)
        left = (result.token_expires_at - timezone.now()).total_seconds()
        self.stdout.write(
            f"Token expires:   {expires:%Y-%m-%d %H:%M:%S} UTC (in {max(left, 0):.0f} s)"
        )
        self.stdout.write(
            f"Probe call:      GET {result.probe_url} → {result.probe_status} "
            f"in {_ms(result.probe_seconds)}"
        )
        self.stdout.write(self.style.SUCCESS("OK: the Offers service is reachable and accepts us."))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
