from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.grid, name="grid"),
    path("healthz", views.healthz, name="healthz"),
]
