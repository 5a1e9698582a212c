from django.urls import path

from dashboard import alerts, market_views, staff, views

app_name = "dashboard"

urlpatterns = [
    path("", views.landing, name="landing"),
    path("dashboard/", views.overview, name="overview"),
    path("products/new/", views.product_new, name="product-new"),
    path("products/<uuid:product_id>/", views.product_detail, name="product"),
    path("products/<uuid:product_id>/edit/", views.product_edit, name="product-edit"),
    path("products/<uuid:product_id>/delete/", views.product_delete_view, name="product-delete"),
    path("products/<uuid:product_id>/sync/", views.product_sync_now, name="product-sync"),
    path("staff/health/", staff.health_page, name="staff-health"),
    path("map/", market_views.map_page, name="map"),
    path("products/<uuid:product_id>/memory/", market_views.product_memory, name="product-memory"),
    path(
        "products/<uuid:product_id>/register/",
        views.product_register_again,
        name="product-register",
    ),
    # Alerts: a product's rules and history, the feed, the header's badge, the settings.
    path("products/<uuid:product_id>/alerts/", alerts.product_alerts, name="product-alerts"),
    path("products/<uuid:product_id>/alerts/new/", alerts.alert_rule_new, name="alert-rule-new"),
    path(
        "products/<uuid:product_id>/alerts/backtest/",
        alerts.alert_backtest_view,
        name="alert-backtest",
    ),
    path("alerts/", alerts.alerts_feed, name="alerts"),
    path("alerts/read/", alerts.alerts_mark_all_read, name="alerts-read"),
    path("alerts/<int:firing_id>/read/", alerts.alert_mark_read, name="alert-read"),
    path("alerts/badge/", alerts.alerts_badge, name="alerts-badge"),
    path("alerts/settings/", alerts.alert_settings_view, name="alert-settings"),
    path(
        "alerts/settings/rotate-secret/",
        alerts.alert_secret_rotate,
        name="alert-secret-rotate",
    ),
    path("alerts/rules/<int:rule_id>/edit/", alerts.alert_rule_edit, name="alert-rule-edit"),
    path("alerts/rules/<int:rule_id>/toggle/", alerts.alert_rule_toggle, name="alert-rule-toggle"),
    path(
        "alerts/rules/<int:rule_id>/delete/",
        alerts.alert_rule_delete_view,
        name="alert-rule-delete",
    ),
]
