from django.urls import path

from dashboard import task_views, views

urlpatterns = [
    path("", views.grid, name="grid"),
    path("api/snapshot", views.api_snapshot, name="api-snapshot"),
    path("api/metrics", views.api_metrics, name="api-metrics"),
    path("healthz", views.healthz, name="healthz"),
    path("tasks/<str:task_id>/", task_views.task_page, name="task"),
    path("tasks/<str:task_id>/panel", task_views.task_panel, name="task-panel"),
    path("tasks/<str:task_id>/inspect", task_views.task_inspect, name="task-inspect"),
    path("tasks/<str:task_id>/env/reveal", task_views.task_env_reveal, name="task-env-reveal"),
    path("tasks/<str:task_id>/logs.txt", task_views.task_logs_download, name="task-logs"),
]
