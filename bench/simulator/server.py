"""The simulator as a server: the swarm, served on a unix socket as the engine profile answers."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from bench.simulator import logs, routes, writes
from bench.simulator.logs import LogBook
from bench.simulator.model import EVENT_BUFFER, ApiError, dumps
from bench.simulator.profiles import parse_version
from bench.simulator.profiles import profile as engine_profile
from bench.simulator.routes import API_VERSION
from bench.simulator.swarm import Swarm

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = Callable[["Simulator", web.Request], Awaitable[web.StreamResponse]]
BARE = web.ResponseKey("bare", bool)  # a response dockerd's middlewares never see (its router's 404)
REJECTED = web.ResponseKey("rejected", bool)  # refused by the version middleware, before the experimental one


class Simulator(Swarm):
    """A swarm of ``nodes`` nodes running about ``tasks`` tasks, served as Docker's Engine API.

    ``engine`` picks what the daemon answers as: "20.10" (API 1.41, minimum 1.12) or "29" (API 1.52,
    minimum 1.44). ``churn`` failures per second (each replaced in its slot) start with ``start()``;
    ``step_delay`` is the time between two task states (0: every change completes at once);
    ``log_interval`` the time between two new lines of a followed task's log.
    """

    def __init__(
        self,
        *,
        nodes: int = 500,
        tasks: int = 20_000,
        managers: int = 3,
        seed: int = 1,
        churn: float = 0.0,
        step_delay: float = 0.05,
        global_services: int | None = None,
        event_buffer: int = EVENT_BUFFER,
        engine: str = "20.10",
        log_interval: float = 1.0,
    ) -> None:
        super().__init__(
            nodes=nodes,
            tasks=tasks,
            managers=managers,
            seed=seed,
            churn=churn,
            step_delay=step_delay,
            global_services=global_services,
            event_buffer=event_buffer,
            profile=engine_profile(engine),
        )
        self.logs = LogBook(log_interval)
        self._runner: web.AppRunner | None = None
        self._socket_path = ""

    @property
    def socket_path(self) -> str:
        """Where it serves ("" when not started): DOCKER_HOST=unix://<socket_path>."""
        return self._socket_path

    async def start(self, socket_path: str) -> None:
        """Serve on ``socket_path`` (a stale socket file there is replaced) and start the churn."""
        self._loop = asyncio.get_running_loop()
        self._warm()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024**2)
        app.on_response_prepare.append(self._docker_headers)
        for method, path, handler in self._routes():
            for prefix in ("", "/v{version:[0-9.]+}"):
                app.router.add_route(method, prefix + path, handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.UnixSite(self._runner, socket_path).start()
        self._socket_path = socket_path
        self._restart_churn()

    async def stop(self) -> None:
        """Stop the churn and pending state steps, end every /events and log stream, close the socket."""
        if self._churn_task is not None:
            self._churn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._churn_task
            self._churn_task = None
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self.events.close_all()
        self.logs.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._socket_path)
            self._socket_path = ""
        self._loop = None

    def _routes(self) -> list[tuple[str, str, Handler]]:
        def bind(route: Route) -> Handler:
            async def handle(request: web.Request) -> web.StreamResponse:
                return await route(self, request)

            return handle

        def of(kind: str, route: Callable[[Simulator, web.Request, str], Awaitable[web.StreamResponse]]) -> Handler:
            async def handle(request: web.Request) -> web.StreamResponse:
                return await route(self, request, kind)

            return handle

        table: list[tuple[str, str, Handler]] = [
            ("GET", "/_ping", bind(routes.ping)),
            ("HEAD", "/_ping", bind(routes.ping)),
            ("GET", "/version", bind(routes.version)),
            ("GET", "/info", bind(routes.info)),
            ("GET", "/nodes", bind(routes.nodes_list)),
            ("GET", "/nodes/{id}", bind(routes.node_inspect)),
            ("GET", "/services", bind(routes.services_list)),
            ("GET", "/services/{id}", bind(routes.service_inspect)),
            ("POST", "/services/{id}/update", bind(writes.service_update)),
            ("GET", "/tasks", bind(routes.tasks_list)),
            ("GET", "/tasks/{id}", bind(routes.task_inspect)),
            ("GET", "/tasks/{id}/logs", bind(logs.task_logs)),
            ("GET", "/containers/{id}/json", bind(routes.container_inspect)),
            ("GET", "/events", bind(routes.events)),
        ]
        for kind in ("secret", "config"):
            table += [
                ("GET", f"/{kind}s", of(kind, writes.blobs_list)),
                ("POST", f"/{kind}s/create", of(kind, writes.blob_create)),
                ("GET", f"/{kind}s/{{id}}", of(kind, writes.blob_inspect)),
                ("DELETE", f"/{kind}s/{{id}}", of(kind, writes.blob_remove)),
            ]
        return table

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else request.path
        self.requests[f"{request.method} {path.removeprefix('/v{version}')}"] += 1
        asked = request.match_info.get("version")
        if request.match_info.http_exception is not None:  # dockerd's router: no route, no middleware
            response = _error(404, "page not found", asked)
            response[BARE] = True
            return response
        try:
            request[API_VERSION] = self.profile.check(asked)
        except ApiError as e:
            response = _error(e.status, e.message, asked)
            response[REJECTED] = True
            return response
        try:
            return await handler(request)
        except ApiError as e:
            return _error(e.status, e.message, asked)

    async def _docker_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if response.get(BARE):
            return
        headers = self.profile.headers()
        if response.get(REJECTED):
            del headers["Docker-Experimental"]
        response.headers.update(headers)


def _error(status: int, message: str, version: str | None) -> web.Response:
    """JSON, except for a client that asked for an API version below 1.24: plain text (http.Error)."""
    if version is not None and parse_version(version) < (1, 24):
        headers = {"X-Content-Type-Options": "nosniff"}
        return web.Response(text=message + "\n", status=status, content_type="text/plain", headers=headers)
    return web.Response(body=dumps({"message": message}) + b"\n", status=status, content_type="application/json")
