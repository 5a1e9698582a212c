"""Admin of products and of what the Offers service tells us about them.

Offers, snapshots and sync runs come from the service: they are read-only here.
"""

from django.contrib import admin
from django.db.models import Count, Q

from pricing.models import Offer, ProductSnapshot, ProductTracking, SyncRun
from products.models import Product


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


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "registration_state",
        "current_offers",
        "last_synced_at",
        "sync_failures",
        "is_suspended",
        "created_at",
    ]
    list_filter = ["tracking__registration_state", "is_suspended", "created_at"]
    search_fields = ["name", "description", "owner__email", "=id"]
    list_select_related = ["owner", "tracking"]
    autocomplete_fields = ["owner"]
    date_hierarchy = "created_at"
    inlines = [TrackingInline, CurrentOfferInline]
    readonly_fields = ["id", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["id", "owner", "name", "description", "created_at", "updated_at"]}),
        ("Moderation", {"fields": ["is_suspended", "suspension_reason"]}),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(current_offer_count=Count("offers", filter=Q(offers__is_current=True)))
        )

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
