from django.urls import URLPattern, path

from dashboard.consumers import SwarmConsumer
from dashboard.log_consumer import TaskLogsConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/swarm", SwarmConsumer.as_asgi()),
    path("ws/tasks/<str:task_id>/logs", TaskLogsConsumer.as_asgi()),
]
