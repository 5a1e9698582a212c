from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/api-token/", views.api_token_create, name="api-token-create"),
    path("profile/api-token/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("delete/", views.account_delete, name="delete"),
]
