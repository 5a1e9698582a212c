"""The users' admin: the stock UserAdmin, adapted to email as the login, with moderation.

Staff deactivate and reactivate accounts with actions, through accounts.services, never by
ticking `is_active`: deactivation also ends the user's sessions. Every act is in the audit trail
on the user's page, with the acts on their products. The admin's own login is the site's
(rate-limited by allauth), and the admin does not exist for anyone but active staff.
"""

from django.contrib import admin, messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Count, Exists, OuterRef, Q
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.decorators import staff_required
from accounts.forms import AdminUserChangeForm, AdminUserCreationForm
from accounts.models import User
from accounts.moderation import action_with_reason, audit, audit_trail
from accounts.services import user_deactivate, user_reactivate, user_sync_primary_email


def _staff_only_admin(site: admin.AdminSite) -> None:
    """Signed-in users who are not staff get a 404 from every admin page, and visitors the
    site's own login page (allauth's, rate-limited), never the admin's unguarded login form.

    Django's admin forms that check a password (login, password change) are not rate-limited,
    so they never take one: staff signed in already are sent on, to the admin or to the site's
    password page (allauth's, rate-limited). Otherwise a staff member could guess another
    account's password through the admin's login form, and be signed in as that account.
    """

    def login(request, extra_context=None):
        target = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("admin:index", current_app=site.name)
        return redirect(target)

    def password_change(request, extra_context=None):
        return redirect("account_change_password")

    site.login = staff_required(login)
    site.password_change = password_change  # staff only through admin_view, below
    original_admin_view = site.admin_view

    def admin_view(view, cacheable=False):
        return staff_required(original_admin_view(view, cacheable))

    site.admin_view = admin_view


_staff_only_admin(admin.site)
admin.site.site_header = "Product Aggregator administration"
admin.site.site_title = "Product Aggregator admin"


class HasFailingProductsFilter(admin.SimpleListFilter):
    title = "failing products"
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        return [("yes", "Has failing products"), ("no", "Has none")]

    def queryset(self, request, queryset):
        # Strings, not imports: accounts knows nothing of products and pricing (DESIGN §2).
        # Failing as the catalogue's "needing attention": a failed registration or last sync.
        products = User._meta.get_field("products").related_model.objects
        failing = products.filter(
            Q(tracking__sync_failures__gt=0) | Q(tracking__registration_state="failed"),
            owner=OuterRef("pk"),
        )
        match self.value():
            case "yes":
                return queryset.filter(Exists(failing))
            case "no":
                return queryset.exclude(Exists(failing))
        return queryset


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserCreationForm
    list_display = ["email", "full_name", "product_count", "is_active", "is_staff", "date_joined"]
    list_filter = [
        "is_active",
        "is_staff",
        "is_superuser",
        "date_joined",
        HasFailingProductsFilter,
    ]
    search_fields = ["email", "full_name"]
    ordering = ["email"]
    # is_active changes only through the actions, which also end the sessions.
    readonly_fields = ["is_active", "last_login", "date_joined", "moderation_log"]
    actions = ["deactivate", "reactivate"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["full_name", "time_zone"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
        ("Audit", {"fields": ["moderation_log"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "time_zone", "password1", "password2"],
            },
        ),
    ]

    def get_queryset(self, request):
        # A string, not an import: accounts knows nothing of products (DESIGN §2).
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, user: User) -> int:
        return user.product_count

    @admin.display(description="what staff did (latest first)")
    def moderation_log(self, user: User) -> str:
        products = user.products.all()
        return audit_trail(
            (User, [user.pk]), (products.model, products.values_list("pk", flat=True))
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change or "email" in form.changed_data:
            user_sync_primary_email(user=obj)

    @admin.action(description="Deactivate selected users…", permissions=["change"])
    def deactivate(self, request, queryset):
        def apply(users, reason: str) -> None:
            done = []
            for user in users:
                if user.pk == request.user.pk:
                    self.message_user(request, "You cannot deactivate yourself.", messages.ERROR)
                elif user.is_superuser and not request.user.is_superuser:
                    self.message_user(
                        request, f"Only a superuser can deactivate {user}.", messages.ERROR
                    )
                elif user_deactivate(user=user):
                    done.append(user)
            audit(request, done, f"Deactivated. Reason: {reason}")
            self.message_user(
                request,
                f"Deactivated {len(done)} user(s): signed out, and their products are no "
                "longer synced.",
                messages.SUCCESS,
            )

        return action_with_reason(
            self,
            request,
            queryset,
            title="Deactivate users",
            confirm="Deactivate",
            shown_to_owner=False,
            apply=apply,
        )

    @admin.action(description="Reactivate selected users", permissions=["change"])
    def reactivate(self, request, queryset):
        done = [user for user in queryset if user_reactivate(user=user)]
        audit(request, done, "Reactivated.")
        self.message_user(
            request,
            f"Reactivated {len(done)} user(s): they can sign in, and their products sync again "
            "from the next run.",
            messages.SUCCESS,
        )
