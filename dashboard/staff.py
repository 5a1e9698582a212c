"""Staff pages outside the admin: the health page of the sync (runs, scheduler, overdue and
failing products, registrations, the Offers token, the task queue)."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.decorators import staff_required
from dashboard.views import is_partial
from pricing.selectors import staff_health

HEALTH_REFRESH_SECONDS = 10


@staff_required
@require_GET
@vary_on_headers("HX-Request")
def health_page(request):
    """The whole page, or its panels alone for the HTMX refresh every HEALTH_REFRESH_SECONDS."""
    health = staff_health(now=timezone.now())
    context = {
        "health": health,
        # The banner's status (dashboard.context_processors.staff) without a query of its own.
        "scheduler_status": health.scheduler,
        "refresh_seconds": HEALTH_REFRESH_SECONDS,
    }
    template = "dashboard/staff-health.html"
    if is_partial(request):
        template += "#health-panels"
    return render(request, template, context)
