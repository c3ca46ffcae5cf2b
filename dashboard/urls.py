from django.urls import path

from dashboard import secret_views, task_views, views, wall_views

urlpatterns = [
    path("", views.grid, name="grid"),
    path("wall/", wall_views.wall, name="wall"),
    path("api/snapshot", views.api_snapshot, name="api-snapshot"),
    path("api/metrics", views.api_metrics, name="api-metrics"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("tasks/<str:task_id>/", task_views.task_page, name="task"),
    path("tasks/<str:task_id>/panel", task_views.task_panel, name="task-panel"),
    path("tasks/<str:task_id>/inspect", task_views.task_inspect, name="task-inspect"),
    path("tasks/<str:task_id>/env/reveal", task_views.task_env_reveal, name="task-env-reveal"),
    path("tasks/<str:task_id>/logs.txt", task_views.task_logs_download, name="task-logs"),
    path("secrets/", secret_views.secrets_page, name="secrets"),
    path("secrets/create", secret_views.secret_create, name="secret-create"),
    path("secrets/<str:secret_id>/remove", secret_views.secret_remove, name="secret-remove"),
    path("secrets/<str:secret_id>/rotate", secret_views.secret_rotate, name="secret-rotate"),
    path("configs/<str:config_id>/", secret_views.config_page, name="config"),
]
