from django.urls import URLPattern, path

from dashboard.live.log_socket import TaskLogsConsumer
from dashboard.live.service_logs import ServiceLogsConsumer
from dashboard.live.swarm_socket import SwarmConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/swarm", SwarmConsumer.as_asgi()),
    path("ws/tasks/<str:task_id>/logs", TaskLogsConsumer.as_asgi()),
    path("ws/services/<str:service_id>/logs", ServiceLogsConsumer.as_asgi()),
]
