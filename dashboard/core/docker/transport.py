"""The one transport every Docker resource module speaks through: one aiodocker connection, the
API version negotiated once, every request bounded in time, counted by endpoint, and its failures
turned into the errors of ``errors``.

aiodocker's quirks are handled here: ``tcp://`` with an SSL context would speak plain HTTP (so the
URL becomes ``https://``), and its own version negotiation ("auto") is a request we could not count
or bound (so /version is asked here).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, Self, TypeVar

import aiodocker
import aiohttp

from dashboard.core.docker.endpoint import Endpoint, tls_context
from dashboard.core.docker.errors import (
    DaemonUnreachable,
    DockerAPIError,
    DockerProblem,
    NotAManager,
    NotInSwarm,
    ReadOnlyRefused,
    StreamStalled,
    explain,
)
from dashboard.core.docker.listing import MAX_LIST_BYTES, MalformedList, parse_list
from dashboard.core.docker.version import OLDEST_API, api_str, negotiate
from dashboard.core.domain import JSON

T = TypeVar("T")


class Transport:
    """A connection to one Docker daemon (a swarm manager). Use as ``async with``."""

    def __init__(self, endpoint: Endpoint, *, request_timeout: float = 10.0, read_only: bool = False) -> None:
        self.endpoint = endpoint
        self.request_timeout = request_timeout
        self.read_only = read_only
        self._local_node_id: str | None = None
        self.last_ok: float | None = None  # the event loop's time of the last answer from Docker
        self.api_version = ""  # the negotiated Engine API version ("1.52"), once connected
        self.engine_version = ""
        self._negotiated: asyncio.Lock | None = None
        self.requests: Counter[str] = Counter()  # "GET /tasks" -> count, for benchmarks and metrics
        self._docker: aiodocker.Docker | None = None

    @classmethod
    def from_env(cls, **kwargs: Any) -> Self:
        return cls(Endpoint.from_env(), **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _connect(self) -> aiodocker.Docker:
        if self._docker is None:
            ep = self.endpoint
            timeout = aiohttp.ClientTimeout(total=None, connect=self.request_timeout)
            if ep.tls_verify:
                assert ep.cert_path is not None
                url = "https://" + ep.host.split("://", 1)[1]
                self._docker = aiodocker.Docker(url=url, ssl_context=tls_context(ep.cert_path), timeout=timeout)
            else:
                url = ep.host.replace("tcp://", "http://", 1)
                self._docker = aiodocker.Docker(url=url, timeout=timeout)
            # set by _api() from /version; aiodocker's own "auto" would be a request we cannot count or bound
            self._docker.api_version = "v" + api_str(OLDEST_API)
        return self._docker

    async def _api(self) -> aiodocker.Docker:
        """The connection, its API version negotiated: one unversioned ``GET /version`` per client."""
        docker = self._connect()
        if self.api_version:
            return docker
        if self._negotiated is None:
            self._negotiated = asyncio.Lock()
        async with self._negotiated:
            if not self.api_version:
                self.requests["GET /version"] += 1
                doc = await docker._query_json("version", "GET", versioned_api=False)
                if not isinstance(doc, dict):
                    raise DockerAPIError(200, "malformed answer to GET /version: not a JSON object")
                version = negotiate(doc, self.endpoint.describe())
                docker.api_version = "v" + version
                version_text = doc.get("Version")
                self.engine_version = version_text if isinstance(version_text, str) else ""
                self.api_version = version
        return docker

    def _answered(self) -> None:
        self.last_ok = asyncio.get_running_loop().time()

    async def close(self) -> None:
        if self._docker is not None:
            docker, self._docker = self._docker, None
            await docker.close()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        """GET a JSON object (an inspect, /info); anything else - an HTML error page from a proxy, a
        list - is a clear DockerAPIError, never an AttributeError deep in a parser."""
        self.requests[f"GET /{path}"] += 1
        result = await self._json("GET", path, params=params)
        if not isinstance(result, dict):
            raise DockerAPIError(200, f"malformed answer to GET /{path}: expected a JSON object")
        return result

    async def _write(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """Every call that changes Docker goes through here, so read-only mode can refuse them all."""
        if self.read_only:
            raise ReadOnlyRefused(f"the dashboard runs read-only (DOCKER_READ_ONLY=1): {method} /{path} refused")
        self.requests[f"{method} /{path.split('/', 1)[0]}"] += 1
        return await self._json(method, path, params=params, body=body)

    async def _json(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """One request with a JSON answer, bounded by ``request_timeout``; failures become DockerProblems."""
        async with self._answer(method, path):
            return await (await self._api())._query_json(path, method, params=params, data=body)

    async def _list(self, path: str, params: dict[str, Any] | None, parse: Callable[[JSON], T]) -> tuple[T, ...]:
        """GET a JSON list, decoded and parsed a slice at a time (see ``parse_list``)."""
        self.requests[f"GET /{path}"] += 1
        async with self._answer("GET", path):
            async with (await self._api())._query(path, "GET", params=params) as response:
                try:
                    if (response.content_length or 0) > MAX_LIST_BYTES:
                        raise DockerAPIError(200, f"the answer to GET /{path} is over {MAX_LIST_BYTES >> 20} MiB")
                    raw = await response.content.read(MAX_LIST_BYTES + 1)
                    while len(raw) <= MAX_LIST_BYTES and not response.content.at_eof():
                        raw += await response.content.read(MAX_LIST_BYTES + 1 - len(raw))
                    if len(raw) > MAX_LIST_BYTES:
                        raise DockerAPIError(200, f"the answer to GET /{path} is over {MAX_LIST_BYTES >> 20} MiB")
                finally:
                    response.release()  # also when the read times out: no connection left half-read
        try:
            return await parse_list(raw, parse)
        except MalformedList as e:
            raise DockerAPIError(200, f"malformed JSON in the answer to GET /{path}: {e}") from None

    @contextlib.asynccontextmanager
    async def _answer(self, method: str, path: str) -> AsyncIterator[None]:
        """Bounds a request by ``request_timeout`` and turns its failures into DockerProblems."""
        try:
            async with asyncio.timeout(self.request_timeout):
                yield
            self._answered()
        except TimeoutError:
            raise DaemonUnreachable(
                f"Docker at {self.endpoint.describe()} did not answer {method} /{path} within {self.request_timeout:g}s"
            ) from None
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise self._classify(e, path) from None

    def _classify(self, exc: BaseException, path: str) -> DockerProblem:
        problem = explain(exc, self.endpoint)
        if isinstance(problem, DockerAPIError) and problem.status == 400 and "client version" in str(problem):
            # the daemon was replaced by another version under us (an upgrade, a balancer over
            # managers): ask /version again on the next request
            self.api_version = ""
        if isinstance(problem, DockerAPIError) and problem.status == 503:
            text = str(problem).lower()
            if "not a swarm manager" in text or "worker" in text:
                return NotAManager(
                    f"the Docker daemon at {self.endpoint.describe()} is a swarm worker: it cannot list "
                    "services or tasks. Point DOCKER_HOST at a manager node."
                )
            if "not part of a swarm" in text or "swarm mode" in text:
                return NotInSwarm(
                    f"the Docker daemon at {self.endpoint.describe()} is not in swarm mode: run "
                    "`docker swarm init` there, or point DOCKER_HOST at a swarm manager."
                )
        return problem

    # --- reads ------------------------------------------------------------------------------

    async def ping(self, *, timeout: float) -> None:
        """GET /_ping: proves the daemon still answers (on a fresh request, not the events stream)."""
        docker = self._connect()
        self.requests["GET /_ping"] += 1
        try:
            async with asyncio.timeout(timeout):
                async with docker._query("_ping", versioned_api=False) as response:
                    await response.read()
            self._answered()
        except TimeoutError:
            raise StreamStalled(
                f"Docker at {self.endpoint.describe()} did not answer a ping within {timeout:g}s"
            ) from None
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise self._classify(e, "_ping") from None
