"""Admin of products and of what the Offers service tells us about them.

Products: every owner's, with their state at the Offers service and the moderation actions
(suspend with a reason, unsuspend, register again, sync now), each through the services and
recorded in the audit trail (accounts.moderation). Offers, snapshots and sync runs come from the
service: they are read-only here.
"""

import enum

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.moderation import action_with_reason, audit, audit_trail
from pricing.models import (
    AlertFiring,
    AlertRule,
    Offer,
    ProductSnapshot,
    ProductTracking,
    SyncRun,
    WebhookAttempt,
)
from pricing.services import (
    RegistrationRequestOutcome,
    SyncRequestOutcome,
    product_registration_request,
    product_sync_request,
)
from pricing.status import SyncState, sync_state_filter, sync_status
from products.models import Product
from products.services import product_suspend, product_unsuspend


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CurrentOfferInline(admin.TabularInline):
    model = Offer
    verbose_name_plural = "current offers"
    fields = ["offer_id", "price", "items_in_stock", "first_seen_at", "last_seen_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).current()

    def has_add_permission(self, request, obj=None):
        return False


class TrackingInline(admin.StackedInline):
    """Where the product stands with the Offers service: written by the sync, never by hand."""

    model = ProductTracking
    fields = [field.name for field in ProductTracking._meta.fields if field.name != "product"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


def _state_label(state: SyncState) -> str:
    return state.value.replace("_", " ").capitalize()


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(state.value, _state_label(state)) for state in SyncState]

    def queryset(self, request, queryset):
        if self.value() in SyncState:
            return queryset.filter(sync_state_filter(SyncState(self.value()), now=timezone.now()))
        return queryset


class OwnerActiveFilter(admin.SimpleListFilter):
    title = "owner's account"
    parameter_name = "owner_active"

    def lookups(self, request, model_admin):
        return [("yes", "Active"), ("no", "Deactivated")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(owner__is_active=self.value() == "yes")
        return queryset


# Why a request was not queued, by outcome (SyncRequestOutcome, RegistrationRequestOutcome).
_NOT_QUEUED = {
    "cooling_down": "asked for moments ago",
    "not_registered": "not registered",
    "already_registered": "already registered",
    "suspended": "suspended",
    "owner_inactive": "their owner is deactivated",
}


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Every owner's products, with their state at the Offers service and moderation actions.

    Staff change products only through the actions (the services behind them), never by editing
    fields; every act is recorded in the audit trail on the product's page.
    """

    list_display = [
        "name",
        "owner",
        "sync_state",
        "registration_state",
        "mean_price",
        "current_offers",
        "last_synced_at",
        "sync_failures",
        "is_suspended",
        "created_at",
    ]
    list_filter = [
        SyncStateFilter,
        "tracking__registration_state",
        "is_suspended",
        ("owner", admin.RelatedOnlyFieldListFilter),
        OwnerActiveFilter,
        "created_at",
    ]
    search_fields = ["name", "description", "owner__email", "=id"]
    list_select_related = ["owner", "tracking"]
    date_hierarchy = "created_at"
    inlines = [TrackingInline, CurrentOfferInline]
    actions = ["suspend", "unsuspend", "register_again", "sync_now"]
    readonly_fields = [
        "id",
        "owner",
        "name",
        "description",
        "my_price",
        "map_price",
        "created_at",
        "updated_at",
        "is_suspended",
        "suspension_reason",
        "moderation_log",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "name", "description", "created_at", "updated_at"]}),
        ("Reference prices", {"fields": ["my_price", "map_price"]}),
        ("Moderation", {"fields": ["is_suspended", "suspension_reason"]}),
        ("Audit", {"fields": ["moderation_log"]}),
    ]

    def get_queryset(self, request):
        latest = ProductSnapshot.objects.filter(product=OuterRef("pk")).order_by("-taken_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                current_offer_count=Count("offers", filter=Q(offers__is_current=True)),
                current_mean_price=Subquery(latest.values("mean_price")[:1]),
            )
        )

    def has_add_permission(self, request):
        return False  # products are their owners' to create

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing here is edited by hand: no save buttons.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="state")
    def sync_state(self, product: Product) -> str:
        return _state_label(sync_status(product, now=timezone.now()).state)

    @admin.display(description="mean price", ordering="current_mean_price")
    def mean_price(self, product: Product) -> str:
        if product.current_mean_price is None:
            return "—"
        return f"{product.current_mean_price:,.2f} {settings.PRICE_CURRENCY}"

    @admin.display(description="offers", ordering="current_offer_count")
    def current_offers(self, product: Product) -> int:
        return product.current_offer_count

    @admin.display(description="registration", ordering="tracking__registration_state")
    def registration_state(self, product: Product) -> str:
        return product.tracking.get_registration_state_display()

    @admin.display(description="last synced", ordering="tracking__last_synced_at")
    def last_synced_at(self, product: Product):
        return product.tracking.last_synced_at

    @admin.display(description="failures", ordering="tracking__sync_failures")
    def sync_failures(self, product: Product) -> int:
        return product.tracking.sync_failures

    @admin.display(description="what staff did (latest first)")
    def moderation_log(self, product: Product) -> str:
        return audit_trail((Product, [product.pk]))

    # --- Moderation: each act through a service, each recorded ---------------------------------

    @admin.action(description="Suspend selected products…", permissions=["change"])
    def suspend(self, request, queryset):
        def apply(products, reason: str) -> None:
            done = [product_suspend(product=product, reason=reason) for product in products]
            audit(request, done, f"Suspended. Reason: {reason}")
            self.message_user(
                request,
                f"Suspended {len(done)} product(s): read-only for their owners, not synced.",
                messages.SUCCESS,
            )

        return action_with_reason(
            self,
            request,
            queryset,
            title="Suspend products",
            confirm="Suspend",
            shown_to_owner=True,
            apply=apply,
        )

    @admin.action(description="Unsuspend selected products", permissions=["change"])
    def unsuspend(self, request, queryset):
        suspended = queryset.filter(is_suspended=True)
        done = [product_unsuspend(product=product) for product in suspended]
        audit(request, done, "Unsuspended.")
        self.message_user(
            request,
            f"Unsuspended {len(done)} product(s): their owners can change them, and the next run "
            "syncs them.",
            messages.SUCCESS,
        )

    @admin.action(description="Register selected products again", permissions=["change"])
    def register_again(self, request, queryset):
        outcomes = {product: product_registration_request(product=product) for product in queryset}
        self._queued(request, outcomes, RegistrationRequestOutcome.QUEUED, "Registration requested")

    @admin.action(description="Sync selected products now", permissions=["change"])
    def sync_now(self, request, queryset):
        outcomes = {product: product_sync_request(product=product) for product in queryset}
        self._queued(request, outcomes, SyncRequestOutcome.QUEUED, "Sync requested")

    def _queued(self, request, requests: dict, queued: enum.StrEnum, act: str) -> None:
        """Record the requests that were queued, and say which were not and why."""
        by_outcome: dict[str, list[Product]] = {}
        for product, answer in requests.items():
            by_outcome.setdefault(answer.outcome.value, []).append(product)
        done = by_outcome.pop(queued.value, [])
        audit(request, done, f"{act}.")
        if done:
            self.message_user(request, f"{act} for {len(done)} product(s).", messages.SUCCESS)
        for outcome, products in by_outcome.items():
            names = ", ".join(f"“{product}”" for product in products[:10])
            more = f" and {len(products) - 10} more" if len(products) > 10 else ""
            self.message_user(
                request, f"Not queued, {_NOT_QUEUED[outcome]}: {names}{more}.", messages.WARNING
            )


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ["offer_id", "product", "price", "items_in_stock", "is_current", "last_seen_at"]
    list_filter = ["is_current"]
    search_fields = ["=offer_id", "product__name", "=product__id"]
    list_select_related = ["product"]


@admin.register(ProductSnapshot)
class ProductSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "product",
        "taken_at",
        "offer_count",
        "total_stock",
        "min_price",
        "max_price",
        "mean_price",
        "weighted_mean_price",
    ]
    search_fields = ["product__name", "=product__id"]
    list_select_related = ["product"]
    date_hierarchy = "taken_at"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "products_total",
        "products_synced",
        "products_failed",
        "products_skipped",
    ]
    date_hierarchy = "started_at"


# Alerts are the users' own: staff see them (to answer "why did I get this?"), change nothing.
@admin.register(AlertRule)
class AlertRuleAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "product", "is_enabled", "armed", "streak", "last_fired_at"]
    list_filter = ["kind", "is_enabled", "armed"]
    search_fields = ["product__name", "=product__id", "product__owner__email"]
    list_select_related = ["product"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["attempt", "attempted_at", "url", "status_code", "succeeded", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(AlertFiring)
class AlertFiringAdmin(ReadOnlyAdmin):
    list_display = ["fired_at", "kind", "product", "owner", "delivery", "read_at", "email_sent_at"]
    list_filter = ["kind", "delivery"]
    search_fields = ["product__name", "=product__id", "owner__email"]
    list_select_related = ["product", "owner"]
    date_hierarchy = "fired_at"
    inlines = [WebhookAttemptInline]
