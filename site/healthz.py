"""`/healthz`: does this web process reach its database and its cache? For load balancers and the
container's HEALTHCHECK, which may call it every few seconds.

It answers from a middleware placed first, before any other runs, because a probe is not a
visitor: it speaks plain HTTP to the container's own address (no HTTPS redirect), names that
address as its host (not one of ALLOWED_HOSTS, which the other middleware would check), and must
not open a session or write anything. The body is tiny JSON: {"status": "ok"}, or 503 with
{"status": "unavailable", "failed": ["database", "cache"]}; the errors themselves go to the log,
not to whoever asks. The staff's health page (/staff/health/) says how the sync is doing; this
only says whether the process can serve.
"""

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponseNotAllowed, JsonResponse

PATHS = {"/healthz", "/healthz/"}

logger = logging.getLogger(__name__)


def healthz_middleware(get_response):
    def middleware(request):
        if request.path_info not in PATHS:
            return get_response(request)
        if request.method not in {"GET", "HEAD"}:
            return HttpResponseNotAllowed(["GET", "HEAD"])
        failed = [name for name, probe in PROBES.items() if not _answers(name, probe)]
        response = JsonResponse(
            {"status": "unavailable", "failed": failed} if failed else {"status": "ok"},
            status=503 if failed else 200,
        )
        response["Cache-Control"] = "no-store"
        # Set here: the middleware that would add it does not run for a probe.
        response["Content-Length"] = str(len(response.content))
        return response

    return middleware


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # A read: the database cache would turn a write into a database write.
    cache.get("healthz-probe")


PROBES = {"database": _database, "cache": _cache}


def _answers(name: str, probe) -> bool:
    try:
        probe()
    except Exception:
        # Any failure of a backing service means "unavailable"; the log keeps why. (A broken
        # database connection is closed at the request's end, as after any request.)
        logger.warning("healthz: the %s does not answer", name, exc_info=True)
        return False
    return True
