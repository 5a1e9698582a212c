from django.urls import path

from dashboard import staff, views

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
    path(
        "products/<uuid:product_id>/register/",
        views.product_register_again,
        name="product-register",
    ),
]
