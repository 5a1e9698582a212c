"""The HTML interface of alerts: a product's rules (with the back-test while one is edited) and
its firing history, the feed of every firing, the header's unread badge, the alert settings.

As in dashboard.views: function-based views, the partial an HTMX request swaps, plain pages and
redirects without JavaScript. Everything comes from pricing.selectors and pricing.services; the
owner scoping is theirs too (another user's rule is None, their product is not found), and each
view answers 404 for what is not the user's.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard.alert_forms import NEW_RULE_INITIAL, AlertRuleForm, AlertSettingsForm
from dashboard.views import _htmx_message_response, is_partial
from pricing.selectors import (
    AlertRuleInfo,
    BacktestResult,
    alert_backtest,
    alert_firings,
    alert_rule_get,
    alert_rules,
    alert_settings_of,
    alerts_unread_count,
)
from pricing.services import (
    AlertRuleNotFound,
    alert_firings_mark_read,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
    alert_settings_update,
    alert_webhook_secret_rotate,
)
from products.models import Product

FEED_PAGE_SIZE = 25
# A product's history shows this many firings, and as many more at each "Show more".
HISTORY_STEP = 10
HISTORY_MAX = 200


def _product_of(request, product_id) -> Product:
    return get_object_or_404(Product.objects.for_owner(request.user), pk=product_id)


def _rule_of(request, rule_id: int) -> AlertRuleInfo:
    rule = alert_rule_get(owner=request.user, rule_id=rule_id)
    if rule is None:  # none of that id, or another user's
        raise Http404
    return rule


def _product_alerts_url(product_id) -> str:
    return reverse("dashboard:product-alerts", args=[product_id])


# --- A product's alerts: its rules and firing history ------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleState:
    label: str
    tone: str  # a badge class suffix
    detail: str


def rule_state(rule: AlertRuleInfo, *, now: datetime) -> RuleState:
    """Where a rule stands, in words: off, cooling down, armed (with the streak towards its
    debounce), or waiting to re-arm."""
    spec = rule.spec
    if not spec["is_enabled"]:
        return RuleState("Off", "", "Disabled: syncs do not check it.")
    cooldown = timedelta(minutes=spec["cooldown_minutes"])
    if rule.last_fired_at and cooldown and now < rule.last_fired_at + cooldown:
        until = timezone.localtime(rule.last_fired_at + cooldown)
        return RuleState("Cooling down", "warning", f"It can fire again from {until:%H:%M}.")
    if rule.is_event:
        return RuleState("Armed", "success", "Fires at each change a sync sees.")
    if not rule.armed:
        if rule.last_fired_at is None:
            return RuleState(
                "Waiting to arm", "info", "It arms once a sync finds the condition false."
            )
        return RuleState(
            "Waiting to re-arm", "info", "It fires again once a sync has found the condition false."
        )
    if rule.streak and spec["debounce"] > 1:
        return RuleState(
            "Armed",
            "success",
            f"The condition has held at {rule.streak} of the {spec['debounce']} syncs in a row "
            "it needs.",
        )
    return RuleState("Armed", "success", "Fires when the condition becomes true.")


def _history_shown(request) -> int:
    try:
        shown = int(request.GET.get("history", HISTORY_STEP))
    except ValueError:
        shown = HISTORY_STEP
    return min(max(shown, HISTORY_STEP), HISTORY_MAX)


def _history_context(request, product: Product) -> dict:
    """The product's latest firings (one more is read, to know whether there are more)."""
    shown = _history_shown(request)
    firings = alert_firings(owner=request.user, product_id=product.pk)[: shown + 1]
    more = len(firings) > shown
    return {
        "firings": firings[:shown],
        "history_shown": shown,
        # The region's own URL keeps what it shows when it refreshes.
        "history_query": f"?history={shown}" if shown > HISTORY_STEP else "",
        "history_more": shown + HISTORY_STEP if more and shown < HISTORY_MAX else None,
        "history_capped": more and shown >= HISTORY_MAX,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def product_alerts(request, product_id):
    """The product's alerts: the product page loads this region ("product-alerts") and swaps it
    again after a change; "alert-history" is its firing history alone ("Show more"). Without
    JavaScript it is a page of its own."""
    product = _product_of(request, product_id)
    context = {"product": product, **_history_context(request, product)}
    template = "dashboard/alerts/product-alerts.html"
    region = request.htmx.target if is_partial(request) else None
    if region == "alert-history":
        return render(request, f"{template}#alert-history", context)
    now = timezone.now()
    rules = alert_rules(owner=request.user, product_id=product.pk)  # oldest first
    context["rules"] = [(rule, rule_state(rule, now=now)) for rule in rules]
    if region:
        template += "#product-alerts"
    return render(request, template, context)


# --- A rule: new, edit, enable/disable, delete -------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def alert_rule_new(request, product_id):
    product = _product_of(request, product_id)
    if product.is_suspended:
        return _suspended(request, product)
    form = AlertRuleForm(request.POST or None, initial=NEW_RULE_INITIAL)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        try:
            rule = alert_rule_create(owner=request.user, product_id=product.pk, spec=form.spec())
        except AlertRuleNotFound:  # deleted meanwhile
            raise Http404 from None
        except ValidationError as error:
            form.add_spec_errors(error)
        else:
            return _rule_saved(request, product, f"Alert “{rule.description}” created.")
    return _rule_form_page(request, form, product=product, rule=None)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def alert_rule_edit(request, rule_id):
    rule = _rule_of(request, rule_id)
    product = _product_of(request, rule.product_id)
    if product.is_suspended:
        return _suspended(request, product)
    form = AlertRuleForm(request.POST or None, initial=AlertRuleForm.initial_of(rule.spec))
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        try:
            rule = alert_rule_update(owner=request.user, rule_id=rule.id, spec=form.spec())
        except AlertRuleNotFound:
            raise Http404 from None
        except ValidationError as error:
            form.add_spec_errors(error)
        else:
            return _rule_saved(request, product, f"Alert “{rule.description}” saved.")
    return _rule_form_page(request, form, product=product, rule=rule)


@login_required
@require_POST
def alert_rule_toggle(request, rule_id):
    """Enable or disable a rule (enabled again, it starts afresh: the syncs it missed were not
    evaluated)."""
    rule = _rule_of(request, rule_id)
    product = _product_of(request, rule.product_id)
    enabled = not rule.spec["is_enabled"]
    try:
        rule = alert_rule_update(
            owner=request.user, rule_id=rule.id, spec={**rule.spec, "is_enabled": enabled}
        )
    except AlertRuleNotFound:
        raise Http404 from None
    except ValidationError as error:  # the product was suspended
        messages.error(request, " ".join(error.messages))
        return _after_rule_change(request, product, status=409)
    messages.success(request, f"Alert “{rule.description}” {'enabled' if enabled else 'disabled'}.")
    return _after_rule_change(request, product, status=200)


@login_required
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def alert_rule_delete_view(request, rule_id):
    rule = _rule_of(request, rule_id)
    product = _product_of(request, rule.product_id)
    if request.method == "POST":
        try:
            alert_rule_delete(owner=request.user, rule_id=rule.id)
        except AlertRuleNotFound:
            raise Http404 from None
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return _after_rule_change(request, product, status=409)
        return _rule_saved(request, product, f"Alert “{rule.description}” deleted.")
    template = "dashboard/alerts/rule-delete.html"
    if is_partial(request):
        template += "#rule-delete"
    return render(request, template, {"rule": rule, "product": product})


def _rule_form_page(request, form: AlertRuleForm, *, product: Product, rule) -> HttpResponse:
    """The rule's form with the back-test of what it holds: of the rule being edited when the
    form opens, of valid input on a "Back-test" press (without JavaScript); a form with errors
    shows them, and the back-test waits for a complete rule."""
    context = {"form": form, "product": product, "rule": rule}
    if form.is_bound:
        if form.is_valid():
            context |= _backtest_context(request, product, form.spec(), form=form)
    elif rule is not None:
        context |= _backtest_context(request, product, rule.spec)
    template = "dashboard/alerts/rule-form.html"
    if is_partial(request):
        template += "#rule-form"
    # 422 tells HTMX (configured in base.html) and programs that the input was refused.
    status = 422 if form.is_bound and form.errors else 200
    return render(request, template, context, status=status)


def _rule_saved(request, product: Product, message: str) -> HttpResponse:
    """After a change: HTMX gets the message and the events that close the dialog and refresh
    the alerts; without JavaScript, a redirect to the product's alerts shows the message."""
    messages.success(request, message)
    if request.htmx:
        return _htmx_message_response(request, status=200, events="alerts-changed, dialog-close")
    return redirect(_product_alerts_url(product.pk))


def _after_rule_change(request, product: Product, *, status: int) -> HttpResponse:
    if request.htmx:
        return _htmx_message_response(request, status=status, events="alerts-changed")
    return redirect(_product_alerts_url(product.pk))


def _suspended(request, product: Product) -> HttpResponse:
    messages.error(request, f"“{product.name}” is suspended by staff: its alerts cannot change.")
    if request.htmx:
        return _htmx_message_response(request, status=409, events="dialog-close")
    return redirect(_product_alerts_url(product.pk))


# --- The back-test, while a rule is edited ---------------------------------------------------


@login_required
@require_POST
def alert_backtest_view(request, product_id):
    """The back-test region of the rule form, for what the form holds now (the form posts
    here as the user edits it)."""
    product = _product_of(request, product_id)
    form = AlertRuleForm(request.POST)
    if form.is_valid():
        context = _backtest_context(request, product, form.spec())
    else:
        context = {"backtest_problem": _first_problem(form.errors.values())}
    return render(request, "dashboard/alerts/rule-form.html#backtest", context)


BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 6, 2, 40


@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    count: int
    x: int
    y: float
    height: float


def backtest_bars(per_day: list[tuple[date, int]]) -> list[Bar]:
    """One bar per local day, drawn as SVG rectangles (attributes, not inline styles: the
    Content-Security-Policy allows none); a day without firings is a thin line."""
    most = max((count for _, count in per_day), default=0) or 1
    bars = []
    for index, (day, count) in enumerate(per_day):
        height = max(BAR_HEIGHT * count / most, 1.5) if count else 1
        x = index * (BAR_WIDTH + BAR_GAP)
        bars.append(Bar(day, count, x, round(BAR_HEIGHT - height, 2), round(height, 2)))
    return bars


def _backtest_context(request, product: Product, spec: dict, *, form=None) -> dict:
    """The back-test of `spec` on the product. A spec pricing refuses explains itself instead
    (and, with a form, puts its errors on their fields)."""
    try:
        result: BacktestResult = alert_backtest(
            owner=request.user, product_id=product.pk, spec=spec
        )
    except ValidationError as error:
        if form is not None:
            form.add_spec_errors(error)
        problems = error.message_dict.values() if hasattr(error, "error_dict") else [error.messages]
        return {"backtest_problem": _first_problem(problems)}
    except AlertRuleNotFound:  # the product is not the owner's (deleted meanwhile)
        raise Http404 from None
    days = round((result.until - result.since) / timedelta(days=1))
    bars = backtest_bars(result.per_day)
    return {
        "backtest": result,
        "backtest_days": max(days, 1),
        "backtest_bars": bars,
        "backtest_bars_width": max(len(bars) * (BAR_WIDTH + BAR_GAP) - BAR_GAP, 1),
        "backtest_busiest": max((bar.count for bar in bars), default=0),
        "bar_height": BAR_HEIGHT,
        "bar_width": BAR_WIDTH,
    }


def _first_problem(problems) -> str:
    for messages_of_field in problems:
        for message in messages_of_field:
            return f"Complete the rule to see its back-test: {message}"
    return "Complete the rule to see its back-test."


# --- The feed --------------------------------------------------------------------------------


def _feed_context(request, params) -> dict:
    """A page of the user's firings (newest first; unread only with unread=1), with the URLs of
    its filter and pages. Capped firings (never sent) are on the product pages only."""
    unread = params.get("unread") == "1"
    firings = alert_firings(owner=request.user, unread=unread, include_capped=False)
    page = Paginator(firings, FEED_PAGE_SIZE).get_page(params.get("page"))
    base = reverse("dashboard:alerts")

    def url(**query) -> str:
        query = {name: value for name, value in query.items() if value}
        return f"{base}?{urlencode(query)}" if query else base

    filter_query = {"unread": "1"} if unread else {}
    return {
        "page": page,
        # The header's badge on this page, and "Mark all read (N)".
        "alerts_unread": alerts_unread_count(owner=request.user),
        "unread_only": unread,
        "feed_url": url(**filter_query, page=page.number if page.number > 1 else None),
        "all_url": url(),
        "unread_url": url(unread="1"),
        "previous_url": url(**filter_query, page=page.previous_page_number())
        if page.has_previous()
        else None,
        "next_url": url(**filter_query, page=page.next_page_number()) if page.has_next() else None,
    }


@login_required
@require_GET
@vary_on_headers("HX-Request")
def alerts_feed(request):
    template = "dashboard/alerts/feed.html"
    if is_partial(request):
        template += "#alert-feed"
    return render(request, template, _feed_context(request, request.GET))


@login_required
@require_POST
def alerts_mark_all_read(request):
    alert_firings_mark_read(owner=request.user)
    return _feed_changed(request)


@login_required
@require_POST
def alert_mark_read(request, firing_id: int):
    # The service marks only the owner's unread firings: none marked is another user's firing,
    # or one that is not unread (pricing offers no read of one firing to tell them apart).
    if not alert_firings_mark_read(owner=request.user, firing_ids=[firing_id]):
        raise Http404
    return _feed_changed(request)


def _feed_changed(request) -> HttpResponse:
    """The feed again, on the page and filter the form came from; the badge refreshes."""
    context = _feed_context(request, request.POST)
    if not request.htmx:
        return redirect(context["feed_url"])
    response = render(request, "dashboard/alerts/feed.html#alert-feed", context)
    response["HX-Trigger"] = "alerts-changed"
    return response


@login_required
@require_GET
def alerts_badge(request):
    """The header's unread count, which polls itself. When it grew since the count the page
    shows (`count`), the answer says so ("alerts-arrived"): the feed and alert lists refresh."""
    count = alerts_unread_count(owner=request.user)
    response = render(request, "base.html#alerts-badge", {"alerts_unread": count})
    try:
        shown = int(request.GET.get("count", ""))
    except ValueError:
        shown = None
    if shown is not None and count > shown:
        response["HX-Trigger"] = "alerts-arrived"
    return response


# --- Settings --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def alert_settings_view(request):
    prefs = alert_settings_of(user=request.user)
    form = AlertSettingsForm(request.POST or None, initial=AlertSettingsForm.initial_of(prefs))
    if request.method == "POST" and form.is_valid():
        try:
            alert_settings_update(user=request.user, changes=form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, "Alert settings saved.")
            return redirect("dashboard:alert-settings")
    status = 422 if form.is_bound and form.errors else 200
    context = {
        "form": form,
        "webhook_secret": prefs.webhook_secret,
        "time_zone": request.user.time_zone,
    }
    return render(request, "dashboard/alerts/settings.html", context, status=status)


@login_required
@require_POST
def alert_secret_rotate(request):
    """A new signing secret for the user's webhooks (the old one stops working at once)."""
    secret = alert_webhook_secret_rotate(user=request.user)
    if request.htmx:
        context = {"webhook_secret": secret, "rotated": True}
        return render(request, "dashboard/alerts/settings.html#webhook-secret", context)
    messages.success(request, "New signing secret made: give it to your webhook's receiver.")
    return redirect("dashboard:alert-settings")
