from django.urls import URLPattern, path

from dashboard.consumers import SwarmConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/swarm", SwarmConsumer.as_asgi()),
]
