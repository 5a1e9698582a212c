from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api import views

app_name = "api"

# Product and rule ids are matched loosely and checked by the view, so that a malformed one gets
# the API's JSON 404 rather than Django's HTML page.
PRODUCT = "products/<str:product_id>/"

urlpatterns = [
    path("users/", views.UserCreateView.as_view(), name="users"),
    path("users/me/", views.MeView.as_view(), name="me"),
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("products/", views.ProductsView.as_view(), name="products"),
    path(PRODUCT, views.ProductView.as_view(), name="product"),
    path(f"{PRODUCT}offers/", views.ProductOffersView.as_view(), name="product-offers"),
    path(f"{PRODUCT}history/", views.ProductHistoryView.as_view(), name="product-history"),
    path(f"{PRODUCT}sync/", views.ProductSyncView.as_view(), name="product-sync"),
    path(f"{PRODUCT}register/", views.ProductRegisterView.as_view(), name="product-register"),
    path(
        f"{PRODUCT}map-violations/",
        views.ProductMapViolationsView.as_view(),
        name="product-map-violations",
    ),
    path(f"{PRODUCT}memory/", views.ProductMemoryView.as_view(), name="product-memory"),
    path("map-violations/", views.MapViolationsView.as_view(), name="map-violations"),
    path("movements/", views.MovementsView.as_view(), name="movements"),
    path(
        f"{PRODUCT}alert-rules/", views.ProductAlertRulesView.as_view(), name="product-alert-rules"
    ),
    path(
        f"{PRODUCT}alert-rules/backtest/",
        views.ProductAlertBacktestView.as_view(),
        name="product-alert-backtest",
    ),
    path("alert-rules/<str:rule_id>/", views.AlertRuleView.as_view(), name="alert-rule"),
    path("alerts/", views.AlertsView.as_view(), name="alerts"),
    path("alerts/read/", views.AlertsReadView.as_view(), name="alerts-read"),
    path("alert-settings/", views.AlertSettingsView.as_view(), name="alert-settings"),
    path(
        "alert-settings/webhook-secret/",
        views.AlertWebhookSecretView.as_view(),
        name="alert-webhook-secret",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", views.not_found, name="not-found"),
]
