from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout, name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("me/", views.profile, name="profile"),
    path("me/tokens/<int:token_id>/revoke/", views.revoke, name="revoke_token"),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/role/", views.set_role, name="set_role"),
    path("users/<int:user_id>/active/", views.set_active, name="set_active"),
]
