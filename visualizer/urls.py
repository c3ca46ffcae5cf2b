from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard.access.forms import ThrottledAuthenticationForm

# Django's auth views, less password reset (it needs e-mail, and would be one more public page)
accounts = [
    path("login/", auth_views.LoginView.as_view(form_class=ThrottledAuthenticationForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("", include("dashboard.urls")),
]
