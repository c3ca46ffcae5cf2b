from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.grid, name="grid"),
    path("api/snapshot", views.api_snapshot, name="api-snapshot"),
    path("api/metrics", views.api_metrics, name="api-metrics"),
    path("healthz", views.healthz, name="healthz"),
]
