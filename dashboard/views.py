"""The HTML interface: landing, overview, product create/edit/delete.

Function-based views with one render at the end. HTMX requests get the partial they swap
(`template#partial`); everything also works as plain pages without JavaScript.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard.charts import price_trend_figure
from dashboard.overview import OverviewQuery, overview_rows
from dashboard.periods import Period
from dashboard.status import sync_status
from pricing.leases import lease_claim
from pricing.models import Offer
from pricing.selectors import (
    current_offers,
    history_start,
    latest_sync_run,
    price_trend,
    product_stats,
)
from pricing.tasks import sync_product_task
from products.forms import ProductForm
from products.models import Product
from products.services import ProductSuspended, product_create, product_delete, product_update

PAGE_SIZE = 25


def is_partial(request) -> bool:
    """An HTMX swap, not a history restore (which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _owned_product(request, product_id) -> Product:
    """The signed-in user's product; a 404 for anyone else's (it exists for nobody else)."""
    return get_object_or_404(Product.objects.for_owner(request.user), pk=product_id)


@require_GET
def landing(request):
    if request.user.is_authenticated:
        return redirect("dashboard:overview")
    return render(request, "dashboard/landing.html")


@login_required
@require_GET
@vary_on_headers("HX-Request")
def overview(request):
    template = "dashboard/overview.html"
    now = timezone.now()
    if is_partial(request) and request.htmx.target == "summary-cards":
        # The cards refresh themselves after a change; they need none of the table's work.
        summary = _summary(request.user, now=now)
        return render(request, f"{template}#summary-cards", {"summary": summary})
    query = OverviewQuery.from_params(request.GET)
    products = Product.objects.for_owner(request.user).search(query.search)
    page = Paginator(query.order(products, now=now), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "query": query,
        "page": page,
        "rows": overview_rows(page.object_list, now=now),
        "query_urls": query.page_urls(page),
    }
    if is_partial(request):
        return render(request, f"{template}#product-table", context)
    context["summary"] = _summary(request.user, now=now)
    return render(request, template, context)


def _summary(user, *, now) -> dict:
    counts = Product.objects.for_owner(user).aggregate(
        products=Count("pk"),
        failing=Count(
            "pk",
            filter=Q(sync_failures__gt=0) | Q(registration_state=Product.RegistrationState.FAILED),
        ),
    )
    run = latest_sync_run()
    return {
        **counts,
        "current_offers": Offer.objects.current().filter(product__owner=user).count(),
        "last_run": run,
        "last_run_stalled": run is not None
        and run.finished_at is None
        and now - run.started_at > timedelta(minutes=10),
    }


# --- Create, edit, delete -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def product_new(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        product = product_create(owner=request.user, **form.cleaned_data)
        return _saved(request, f"“{product.name}” added. Its offers arrive within seconds.")
    return _form_page(request, form, product=None)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def product_edit(request, product_id):
    product = _owned_product(request, product_id)
    if product.is_suspended:
        return _refused(request, ProductSuspended(product))
    form = ProductForm(request.POST or None, instance=product)
    if request.method == "POST" and form.is_valid():
        try:
            product = product_update(owner=request.user, product_id=product.pk, **form.cleaned_data)
        except ProductSuspended as error:  # suspended while the form was open
            return _refused(request, error)
        return _saved(request, f"“{product.name}” saved.")
    return _form_page(request, form, product=product)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def product_delete_view(request, product_id):
    product = _owned_product(request, product_id)
    if product.is_suspended:
        return _refused(request, ProductSuspended(product))
    if request.method == "POST":
        try:
            product_delete(owner=request.user, product_id=product.pk)
        except ProductSuspended as error:
            return _refused(request, error)
        return _saved(request, f"“{product.name}” deleted.")
    template = "dashboard/product-delete.html"
    if is_partial(request):
        template += "#delete-form"
    return render(request, template, {"product": product})


def _form_page(request, form, *, product):
    template = "dashboard/product-form.html"
    if is_partial(request):
        template += "#product-form"
    # 422 tells HTMX (configured in base.html) and programs that the input was refused.
    status = 422 if form.is_bound else 200
    return render(request, template, {"form": form, "product": product}, status=status)


def _saved(request, message: str) -> HttpResponse:
    """After a change: HTMX gets the message and an event that refreshes the table and closes
    the dialog; without JavaScript, a redirect to the overview shows the message."""
    messages.success(request, message)
    if request.htmx:
        return _htmx_message_response(request, status=200, events="products-changed, dialog-close")
    return redirect("dashboard:overview")


def _refused(request, error: Exception) -> HttpResponse:
    messages.error(request, str(error))
    if request.htmx:
        return _htmx_message_response(request, status=409, events="products-changed, dialog-close")
    return redirect("dashboard:overview")


def _htmx_message_response(request, *, status: int, events: str = "") -> HttpResponse:
    """Only the messages (swapped out of band) and events for the page; nothing else swaps."""
    response = render(request, "_messages.html", {"oob": True}, status=status)
    response["HX-Reswap"] = "none"
    if events:
        response["HX-Trigger"] = events
    return response


# --- The product page ---------------------------------------------------------------------------

PRODUCT_PAGE_REGIONS = {"product-live", "offers-table"}  # the regions that refresh themselves
# "Sync now" (or a new product's first sync) stops showing "syncing" after this.
SYNC_WATCH_LIMIT = timedelta(minutes=1)


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def product_detail(request, product_id):
    product = _owned_product(request, product_id)
    now = timezone.now()
    period = Period.from_param(request.GET.get("period"))
    show_offers = request.GET.get("offers") == "1"
    region = request.htmx.target if is_partial(request) else None
    region = region if region in PRODUCT_PAGE_REGIONS else None
    context = {
        "product": product,
        "period": period,
        "periods": list(Period),
        "show_offers": show_offers,
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
    }
    refresh_others = False
    if region in (None, "offers-table"):
        syncing, just_synced = _sync_watch(request, product, now=now)
        context |= {
            "offers": current_offers(product=product),
            "status": sync_status(product, now=now),
            "syncing_since": syncing,
        }
        refresh_others = just_synced
    if region in (None, "product-live"):
        start, end = period.bounds(history_start=history_start(product=product), now=now)
        trend = price_trend(
            product=product,
            start=start,
            end=end,
            tz=request.user.zoneinfo,
            include_offers=show_offers,
        )
        context |= {
            "current": product_stats(product=product),
            "trend": trend,
            "figure": price_trend_figure(
                trend,
                product_name=product.name,
                currency=settings.PRICE_CURRENCY,
                show_offers=show_offers,
                sync_interval=timedelta(seconds=settings.OFFERS_SYNC_INTERVAL),
            ),
        }
    template = "dashboard/product.html" + (f"#{region}" if region else "")
    response = render(request, template, context)
    if refresh_others:
        response["HX-Trigger"] = "product-synced"  # the statistics and chart refresh too
    return response


def _sync_watch(request, product: Product, *, now) -> tuple[datetime | None, bool]:
    """After "Sync now" the offers table polls with ?syncing=<when it was asked>. A new product
    is watched the same way from its creation until its first sync, so that its first offers
    show within seconds, not at the next regular refresh.

    Returns (the time it is still waiting since, or None; whether it has just finished).
    """
    try:
        # A "+" of the offset arrives as a space when a client did not encode it.
        since = parse_datetime(request.GET.get("syncing", "").replace(" ", "+"))
    except ValueError:  # well-formed but impossible, like month 13
        since = None
    if since is None and _awaiting_first_sync(product, now=now):
        return product.created_at, False
    if since is None or timezone.is_naive(since):
        return None, False
    finished = any(
        moment is not None and moment >= since
        for moment in (product.last_synced_at, product.last_sync_error_at)
    )
    if finished or now - since > SYNC_WATCH_LIMIT:
        return None, True
    return since, False


def _awaiting_first_sync(product: Product, *, now) -> bool:
    """Created moments ago, and neither synced nor failed yet: its first sync is coming."""
    return (
        product.last_synced_at is None
        and product.last_sync_error_at is None
        and not product.is_suspended
        and product.registration_state != Product.RegistrationState.FAILED
        and now - product.created_at <= SYNC_WATCH_LIMIT
    )


@login_required
@require_POST
def product_sync_now(request, product_id):
    """Enqueue a sync of this product now; at most one per SYNC_NOW_COOLDOWN per product."""
    product = _owned_product(request, product_id)
    if product.is_suspended or not product.is_registered:
        messages.error(request, f"“{product.name}” cannot be synced until it is registered.")
        return _after_sync_request(request, product, status=409)
    # The lease is never released: it expires, which is what makes it a rate limit.
    if not lease_claim(name=f"sync-now:{product.pk}", seconds=settings.SYNC_NOW_COOLDOWN):
        messages.warning(
            request,
            f"A sync of “{product.name}” was asked for moments ago; "
            f"you can ask again {settings.SYNC_NOW_COOLDOWN} s after it.",
        )
        return _after_sync_request(request, product, status=429)
    requested_at = timezone.now()  # before enqueuing: a quick worker may finish at once
    sync_product_task(str(product.pk))
    if not request.htmx:
        messages.success(request, f"Syncing “{product.name}”: new offers appear in seconds.")
        return redirect("dashboard:product", product_id=product.pk)
    context = {
        "product": product,
        "offers": current_offers(product=product),
        "status": sync_status(product, now=requested_at),
        "syncing_since": requested_at,
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
    }
    return render(request, "dashboard/product.html#offers-table", context)


def _after_sync_request(request, product, *, status: int) -> HttpResponse:
    if request.htmx:
        return _htmx_message_response(request, status=status)
    return redirect("dashboard:product", product_id=product.pk)
