"""The HTML interface: landing, overview, product create/edit/delete.

Function-based views with one render at the end. HTMX requests get the partial they swap
(`template#partial`); everything also works as plain pages without JavaScript.
"""

import hashlib
from datetime import datetime, timedelta
from http import HTTPStatus
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard.charts import price_trend_figure
from dashboard.market import ProductPageQuery, my_price_position
from dashboard.overview import (
    OverviewQuery,
    moved_panel,
    moved_windows,
    overview_params,
    overview_rows,
)
from dashboard.periods import Period
from dashboard.status import status_badge
from dashboard.urlstate import page_params, push_url
from pricing.selectors import (
    CurrentStatistics,
    ProductSyncStatus,
    SyncState,
    TrendTooLarge,
    catalogue_summary,
    current_offers,
    history_start,
    map_violations,
    price_memory,
    price_position,
    price_trend,
    product_stats,
    sync_status,
    with_sync_state,
)
from pricing.services import (
    RegistrationRequestOutcome,
    SyncRequestOutcome,
    product_registration_request,
    product_sync_request,
)
from products.forms import ProductForm
from products.models import Product
from products.services import (
    ProductLimitReached,
    ProductSuspended,
    product_create,
    product_delete,
    product_update,
)

PAGE_SIZE = 25


def is_partial(request) -> bool:
    """An HTMX swap, not a history restore (which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _owned_product(request, product_id) -> Product:
    """The signed-in user's product (its sync state joined); a 404 for anyone else's (it exists
    for nobody else)."""
    return get_object_or_404(
        with_sync_state(Product.objects.for_owner(request.user)), pk=product_id
    )


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
        summary = catalogue_summary(owner=request.user, now=now)
        return render(request, f"{template}#summary-cards", {"summary": summary})
    # An HTMX link sends only what it changes; the rest is the page's URL (dashboard.urlstate).
    shown, params = page_params(request)
    params = overview_params(params, request.GET)
    query = OverviewQuery.from_params(params)
    if is_partial(request) and request.htmx.target == "what-moved":
        # The panel, loaded once the page is up: none of the table's work.
        moved = moved_panel(owner=request.user, query=query, now=now)
        response = render(request, f"{template}#what-moved", {"query": query, "moved": moved})
        return push_url(response, url="", changed=False)
    products = query.filter(Product.objects.for_owner(request.user).search(query.search), now=now)
    page = Paginator(query.order(products, now=now), PAGE_SIZE).get_page(params.get("page"))
    context = {
        "query": query,
        "page": page,
        "rows": overview_rows(page.object_list, now=now),
        "query_urls": query.page_urls(page),
        "query_gets": query.page_gets(page),
    }
    # Search, sort, pages and refreshes swap the table alone; the panel's links and the
    # filter's chip swap "catalogue" (the panel, the search and the table).
    region = None
    if is_partial(request):
        region = "catalogue" if request.htmx.target == "catalogue" else "product-table"
    # The panel sums the roll-ups of the whole catalogue, the page's costliest part: a plain
    # visit leaves it to a request of its own once the page is up ("what-moved" above); the
    # panel's links, and a URL naming a window or a movement (pages without JavaScript), get it.
    if region == "catalogue" or (region is None and (params.get("within") or params.get("moved"))):
        context["moved"] = moved_panel(owner=request.user, query=query, now=now)
    else:
        context["windows"] = moved_windows(query)
    if region is None:
        context["summary"] = catalogue_summary(owner=request.user, now=now)
        return render(request, template, context)
    response = render(request, f"{template}#{region}", context)
    state = (query, str(page.number))
    before = OverviewQuery.from_params(shown), shown.get("page", "1")
    return push_url(
        response,
        url=request.path + query.url(page=page.number if page.number > 1 else None),
        changed=state != before,
    )


# --- Create, edit, delete -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def product_new(request):
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = product_create(owner=request.user, **form.cleaned_data)
        except ProductLimitReached as error:
            form.add_error(None, str(error))
        else:
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

# The regions an HTMX request may ask for alone (HX-Target): the statistics, market position and
# chart; the offers; the MAP violations and the long memory (each with its window in the URL).
PRODUCT_PAGE_REGIONS = {"product-live", "offers-table", "map-violations", "price-memory"}
# "Sync now" (or a new product's first sync) stops showing "syncing" after this.
SYNC_WATCH_LIMIT = timedelta(minutes=1)
# The live region is drawn again at least this often without a new snapshot: its period slides
# with the clock (old points leave it, the change is measured from a later snapshot).
LIVE_REDRAW_AFTER = timedelta(minutes=5)


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def product_detail(request, product_id):
    """The product page, or one of its regions for an HTMX swap (HX-Target): "offers-table"
    (polls every DASHBOARD_REFRESH_SECONDS, each second while a sync is watched),
    "product-live" (statistics, market position and chart; polls, and redraws on the
    "product-synced" event), "map-violations" (the offers below the MAP over `map`, 24h, 7d or
    30d; polls: the time below grows while an offer stays below) or "price-memory" (extremes,
    time-weighted means and volatility over `memory`, 24h … 365d; redraws after a sync).

    The live region's poll carries `shown`, the version of what it shows (_live_version: the
    latest snapshot, the product, the user's zone, the clock's LIVE_REDRAW_AFTER step). When
    it is still current the answer is 204 No Content, on which htmx swaps nothing, before any
    trend is read or figure built: a few queries (session, user, product, latest snapshot).
    Period links and the offers toggle send no `shown` (as do whole-page loads), so the user's
    navigation always renders. The period and offers choice are in the poll's URL already.

    The page's state (ProductPageQuery) is in its URL; a region's links send only their own
    parameter and the rest comes from the page's URL (dashboard.urlstate), which the answer
    updates.
    """
    product = _owned_product(request, product_id)
    now = timezone.now()
    shown_params, params = page_params(request)
    query = ProductPageQuery.from_params(params)
    period, show_offers = query.period, query.show_offers
    region = request.htmx.target if is_partial(request) else None
    region = region if region in PRODUCT_PAGE_REGIONS else None
    context = {
        "product": product,
        "query": query,
        "period": period,
        "show_offers": show_offers,
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
    }
    refresh_others = False
    if region in (None, "offers-table"):
        status = sync_status(product, now=now)
        syncing, just_synced = _sync_watch(request, product, status, now=now)
        context |= {
            **_offers_shown(product),
            "status": status,
            "badge": status_badge(status, now=now),
            "syncing_since": syncing,
        }
        refresh_others = just_synced
    if region in (None, "product-live"):
        # Read before the trend: a sync committing meanwhile leaves the version older than what
        # is drawn (the next poll draws again), never newer.
        current = product_stats(product=product)
        version = _live_version(product, current, tz=request.user.zoneinfo, now=now)
        if region == "product-live" and request.GET.get("shown") == version:
            return HttpResponse(status=HTTPStatus.NO_CONTENT)  # htmx keeps what it shows
        context |= {
            "current": current,
            "live_version": version,
            "position": price_position(product=product),
        }
        # Only "all" starts where the history does: the other periods save the query.
        since = history_start(product=product) if period is Period.ALL else None
        start, end = period.bounds(history_start=since, now=now)
        try:
            trend = price_trend(
                product=product,
                start=start,
                end=end,
                tz=request.user.zoneinfo,
                include_offers=show_offers,
            )
        except TrendTooLarge:  # over a century of history: nothing real gets here
            context["trend_too_large"] = True
        else:
            context |= {
                "trend": trend,
                "figure": price_trend_figure(
                    trend,
                    product_name=product.name,
                    currency=settings.PRICE_CURRENCY,
                    show_offers=show_offers,
                    offer_counts=True,
                    my_price=product.my_price,
                    map_price=product.map_price,
                ),
            }
    # The full page loads these two cards once it is up (without JavaScript, their links lead
    # to pages of their own): drawn with the rest, it would pass its budget of queries.
    if region == "map-violations" or (region is None and product.map_price is None):
        context["violations"] = _violations_of(request, product, query, now=now)
    if region == "price-memory":
        context["memory"] = price_memory(product=product, window=query.memory_window, now=now)
    template = "dashboard/product.html" + (f"#{region}" if region else "")
    response = render(request, template, context)
    if refresh_others:
        response["HX-Trigger"] = "product-synced"  # the statistics and chart refresh too
    if region:
        changed = query != ProductPageQuery.from_params(shown_params)
        push_url(response, url=request.path + query.url(), changed=changed)
    return response


def _violations_of(request, product: Product, query: ProductPageQuery, *, now: datetime) -> list:
    """The product's MAP violations over the query's window (none without a MAP: no query)."""
    if product.map_price is None:
        return []
    start, end = query.map_window.bounds(now=now)
    return map_violations(owner=request.user, start=start, end=end, product_id=product.pk)


def _live_version(
    product: Product, current: CurrentStatistics, *, tz: ZoneInfo, now: datetime
) -> str:
    """A short token that changes whenever the live region for a period and offers choice would
    change: with the latest snapshot (a sync writes it with the offers' history in one
    transaction, so it moves with every figure and point), with the product (its name is the
    chart's title), with the user's time zone, and at every LIVE_REDRAW_AFTER step of the
    clock, which bounds how long a period sliding without new syncs may go unredrawn."""
    step = int(now.timestamp() // LIVE_REDRAW_AFTER.total_seconds())
    shown = (current.as_of, product.updated_at, tz.key, step)
    return hashlib.blake2b(repr(shown).encode(), digest_size=8).hexdigest()


def _sync_watch(
    request, product: Product, status: ProductSyncStatus, *, now
) -> tuple[datetime | None, bool]:
    """After "Sync now" (or "Register again") the offers table polls with ?syncing=<when it was
    asked>. A new product is watched the same way from its creation until its first sync (for at
    most SYNC_WATCH_LIMIT), so that its first offers show within seconds, not at the next
    regular refresh.

    Returns (the time it is still waiting since, or None; whether it has just finished).
    """
    try:
        # A "+" of the offset arrives as a space when a client did not encode it.
        since = parse_datetime(request.GET.get("syncing", "").replace(" ", "+"))
    except ValueError:  # well-formed but impossible, like month 13
        since = None
    if since is None and status.first_sync_pending and now - product.created_at <= SYNC_WATCH_LIMIT:
        return product.created_at, False
    if since is None or timezone.is_naive(since):
        return None, False
    # Finished: a sync ended after the request, or the registration asked for failed again.
    finished = (
        status.last_attempt_at is not None and status.last_attempt_at >= since
    ) or status.state in (SyncState.REGISTRATION_FAILED, SyncState.SUSPENDED)
    if finished or now - since > SYNC_WATCH_LIMIT:
        return None, True
    return since, False


def _user_limit_message(retry_after: int | None) -> str:
    return (
        f"You have asked for {settings.SYNC_NOW_PER_USER_PER_MINUTE} syncs or registrations "
        f"in the last minute, the most we send the Offers service for one account; you can "
        f"ask again in {retry_after} s. Every product is synced each minute anyway."
    )


@login_required
@require_POST
def product_sync_now(request, product_id):
    """Ask for a sync of this product now (pricing rate-limits it per product)."""
    product = _owned_product(request, product_id)
    sync = product_sync_request(product=product, requested_by=request.user)
    match sync.outcome:
        case SyncRequestOutcome.SUSPENDED | SyncRequestOutcome.OWNER_INACTIVE:
            messages.error(request, f"“{product.name}” is suspended by staff and is not synced.")
            return _after_sync_request(request, product, status=409)
        case SyncRequestOutcome.NOT_REGISTERED:
            messages.error(request, f"“{product.name}” cannot be synced until it is registered.")
            return _after_sync_request(request, product, status=409)
        case SyncRequestOutcome.COOLING_DOWN:
            messages.warning(
                request,
                f"A sync of “{product.name}” was asked for moments ago; "
                f"you can ask again {sync.cooldown} s after it.",
            )
            return _after_sync_request(request, product, status=429)
        case SyncRequestOutcome.USER_LIMIT:
            messages.warning(request, _user_limit_message(sync.retry_after))
            return _after_sync_request(request, product, status=429)
    if not request.htmx:
        messages.success(request, f"Syncing “{product.name}”: new offers appear in seconds.")
        return redirect("dashboard:product", product_id=product.pk)
    return _watching(request, product, since=sync.requested_at)


@login_required
@require_POST
def product_register_again(request, product_id):
    """Register again a product whose registration failed (pricing rate-limits it per product,
    as it does "Sync now")."""
    product = _owned_product(request, product_id)
    registration = product_registration_request(product=product, requested_by=request.user)
    match registration.outcome:
        case RegistrationRequestOutcome.SUSPENDED | RegistrationRequestOutcome.OWNER_INACTIVE:
            messages.error(request, f"“{product.name}” is suspended by staff.")
            return _after_sync_request(request, product, status=409)
        case RegistrationRequestOutcome.ALREADY_REGISTERED:
            messages.info(request, f"“{product.name}” is registered already.")
            return _after_sync_request(request, product, status=409)
        case RegistrationRequestOutcome.COOLING_DOWN:
            messages.warning(
                request,
                f"“{product.name}” was sent for registration moments ago; "
                f"you can ask again {registration.cooldown} s after it.",
            )
            return _after_sync_request(request, product, status=429)
        case RegistrationRequestOutcome.USER_LIMIT:
            messages.warning(request, _user_limit_message(registration.retry_after))
            return _after_sync_request(request, product, status=429)
    if not request.htmx:
        messages.success(request, f"Registering “{product.name}” again: offers follow in seconds.")
        return redirect("dashboard:product", product_id=product.pk)
    # The tracking row changed (pending again): read it afresh.
    return _watching(request, _owned_product(request, product.pk), since=registration.requested_at)


# The product page's table shows the cheapest offers, however many the service lists (up to
# OFFERS_MAX_OFFERS): a page of a thousand rows, refreshed every 30 s, helps nobody.
PRODUCT_PAGE_MAX_OFFERS = 100


def _offers_shown(product: Product) -> dict:
    """The offers table's rows (one more is read, to know whether some are left out), and
    where the owner's price falls among them."""
    offers = current_offers(product=product, limit=PRODUCT_PAGE_MAX_OFFERS + 1)
    shown = offers[:PRODUCT_PAGE_MAX_OFFERS]
    return {
        "offers": shown,
        "offers_left_out": len(offers) > PRODUCT_PAGE_MAX_OFFERS,
        "offers_shown_max": PRODUCT_PAGE_MAX_OFFERS,
        "my_price_at": my_price_position(shown, product.my_price),
    }


def _watching(request, product: Product, *, since: datetime) -> HttpResponse:
    """The offers table after a request, polling every second until its sync finishes."""
    status = sync_status(product, now=since)
    context = {
        "product": product,
        **_offers_shown(product),
        "status": status,
        "badge": status_badge(status, now=since),
        "syncing_since": since,
        "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
    }
    return render(request, "dashboard/product.html#offers-table", context)


def _after_sync_request(request, product, *, status: int) -> HttpResponse:
    if request.htmx:
        return _htmx_message_response(request, status=status)
    return redirect("dashboard:product", product_id=product.pk)
