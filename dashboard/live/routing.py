"""The websocket routes. Pages' sockets pass the origin check and carry the session; the node agents'
endpoint does neither: its token is its only admission (dashboard.live.agent_socket)."""

from typing import Any

from django.urls import URLPattern, path

from dashboard.agent.messages import AGENT_PATH
from dashboard.live import agent_socket
from dashboard.live.log_socket import TaskLogsConsumer
from dashboard.live.service_logs import ServiceLogsConsumer
from dashboard.live.swarm_socket import SwarmConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/swarm", SwarmConsumer.as_asgi()),
    path("ws/tasks/<str:task_id>/logs", TaskLogsConsumer.as_asgi()),
    path("ws/services/<str:service_id>/logs", ServiceLogsConsumer.as_asgi()),
]

agent_socket.announce()
_agents = agent_socket.AgentConsumer.as_asgi()


class AgentsApart:
    """/ws/agent to the agents' consumer as it comes; every other socket to ``pages`` (which checks
    the origin and reads the session)."""

    def __init__(self, pages: Any) -> None:
        self.pages = pages

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        root = scope.get("root_path", "")
        path_ = scope["path"][len(root) :] if root and scope["path"].startswith(root) else scope["path"]
        if path_ == AGENT_PATH:
            await _agents(scope, receive, send)
            return
        await self.pages(scope, receive, send)
