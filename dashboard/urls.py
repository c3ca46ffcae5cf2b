from django.urls import path

from dashboard.pages import api, grid, health, nodes, problems, secrets, services, tasks, wall

urlpatterns = [
    path("", grid.grid, name="grid"),
    path("wall/", wall.wall, name="wall"),
    path("api/snapshot", api.api_snapshot, name="api-snapshot"),
    path("api/metrics", api.api_metrics, name="api-metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("tasks/<str:task_id>/", tasks.task_page, name="task"),
    path("tasks/<str:task_id>/panel", tasks.task_panel, name="task-panel"),
    path("tasks/<str:task_id>/inspect", tasks.task_inspect, name="task-inspect"),
    path("tasks/<str:task_id>/reveal", tasks.task_reveal, name="task-reveal"),
    path("tasks/<str:task_id>/usage", tasks.task_usage, name="task-usage"),
    path("tasks/<str:task_id>/logs.txt", tasks.task_logs_download, name="task-logs"),
    path("secrets/", secrets.secrets_page, name="secrets"),
    path("secrets/create", secrets.secret_create, name="secret-create"),
    path("secrets/<str:secret_id>/remove", secrets.secret_remove, name="secret-remove"),
    path("secrets/<str:secret_id>/rotate", secrets.secret_rotate, name="secret-rotate"),
    path("configs/<str:config_id>/", secrets.config_page, name="config"),
    path("services/", services.services_page, name="services"),
    path("services/<str:service_id>/", services.service_page, name="service"),
    path("services/<str:service_id>/logs.txt", services.service_logs_download, name="service-logs"),
    path("nodes/", nodes.nodes_page, name="nodes"),
    path("nodes/<str:node_id>/", nodes.node_page, name="node"),
    path("problems/", problems.problems_page, name="problems"),
    path("api/problems", problems.api_problems, name="api-problems"),
]
