"""ASGI entry point: HTTP through Django, websockets through Channels (see dashboard.live.routing)."""

import os
from typing import Any

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visualizer.settings")
django_asgi_app = get_asgi_application()

# imported after Django is set up: the routing pulls in models and consumers
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from dashboard.access.accesslog import AccessLog  # noqa: E402
from dashboard.access.proxies import ClientAddress, parse_networks  # noqa: E402
from dashboard.live.flow import SendFlow  # noqa: E402
from dashboard.live.routing import AgentsApart, websocket_urlpatterns  # noqa: E402

# outermost: the access log, Django's REMOTE_ADDR and the sockets all see the one resolved address
application = ClientAddress(
    AccessLog(
        ProtocolTypeRouter(
            {
                # daphne serves no files of its own: the few static files come through Django's handler
                # (from the app folders, no collectstatic needed); a reverse proxy may serve them instead
                "http": ASGIStaticFilesHandler(django_asgi_app),
                "websocket": AgentsApart(
                    AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
                ),
            }
        )
    ),
    parse_networks(settings.TRUSTED_PROXIES),
)
# outermost still: each websocket's backpressure needs daphne's own send (dashboard.live.flow)
application = SendFlow(application)  # type: ignore[assignment]  # any ASGI app fits


class UnderPrefix:
    """Serves the site under ``URL_PREFIX`` whether the reverse proxy strips the prefix or passes it on.

    Django and Channels both expect ``path`` to start with ``root_path`` (the ASGI convention): a
    stripped path gets the prefix back, so pages, static files and the websocket route the same way.
    """

    def __init__(self, app: Any, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if path == self.prefix:
                path = f"{path}/"
            elif not path.startswith(f"{self.prefix}/"):
                path = f"{self.prefix}{path}"
            # raw_path is optional in ASGI; a stale one would disagree with the new path
            scope = {k: v for k, v in scope.items() if k != "raw_path"} | {"path": path, "root_path": self.prefix}
        await self.app(scope, receive, send)


if settings.URL_PREFIX:
    application = UnderPrefix(application, settings.URL_PREFIX)  # type: ignore[assignment]  # any ASGI app fits
