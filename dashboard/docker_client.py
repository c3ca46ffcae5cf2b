"""The only module that talks to Docker.

It connects the way the docker CLI does (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH), turns
every failure into one of a few errors a person can act on, counts its requests by endpoint, and
returns the frozen objects of dashboard.domain - nothing raw leaves it.

aiodocker underneath; its quirks are handled here: ``tcp://`` with an SSL context would speak plain
HTTP (so the URL becomes ``https://``), connection failures arrive as DockerError(900) with the
real cause in ``__context__``, and its events helper cannot survive a dropped stream (so the
stream is read with our own loop, see ``events``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import re
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiodocker
import aiohttp

from dashboard.details import TaskDetail, env_value, mask_env, parse_detail
from dashboard.domain import (
    JSON,
    Config,
    Node,
    Secret,
    Service,
    Task,
    as_dict,
    parse_config,
    parse_node,
    parse_secret,
    parse_service,
    parse_task,
)
from dashboard.logs import LogLine, demultiplex

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# The Engine API versions whose shapes this client was verified against (docs/engine-api.md):
# 1.41 is Docker 20.10, 1.52 is Docker 29. A daemon is spoken to in the highest version both know.
OLDEST_API = (1, 41)
NEWEST_API = (1, 52)
open_log_streams = 0  # log streams open to Docker in this process (a gauge for tests and metrics)


class DockerProblem(Exception):
    """Base of every error this module raises; ``str()`` says what happened and what to do."""

    kind = "error"


class DaemonUnreachable(DockerProblem):
    kind = "unreachable"


class StreamStalled(DaemonUnreachable):
    """The connection is open but nothing moves on it (a frozen proxy, a half-open TCP connection)."""

    kind = "stalled"


class TLSProblem(DockerProblem):
    kind = "tls"


class NotInSwarm(DockerProblem):
    kind = "not_in_swarm"


class NotAManager(DockerProblem):
    kind = "worker"


class ReadOnlyRefused(DockerProblem):
    """A write to Docker while the dashboard runs read-only (DOCKER_READ_ONLY=1)."""

    kind = "read_only"


class VersionMismatch(DockerProblem):
    """The daemon and this client share no Engine API version."""

    kind = "version"


class LogsUnavailable(DockerProblem):
    kind = "logs_unavailable"


class DockerAPIError(DockerProblem):
    kind = "api"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Docker answered {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Docker is and how to reach it."""

    host: str  # unix:///path or tcp://host:port
    tls_verify: bool = False
    cert_path: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Endpoint:
        env = os.environ if environ is None else environ
        host = env.get("DOCKER_HOST") or DEFAULT_SOCKET
        if not host.startswith(("unix://", "tcp://", "https://", "http://")):
            raise DaemonUnreachable(f"DOCKER_HOST={host!r}: expected unix:///path or tcp://host:port")
        verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
        cert_path = env.get("DOCKER_CERT_PATH") or None
        if verify and cert_path is None:
            cert_path = str(Path.home() / ".docker")
        return cls(host=host, tls_verify=verify, cert_path=cert_path)

    @property
    def is_unix(self) -> bool:
        return self.host.startswith("unix://")

    def describe(self) -> str:
        return f"{self.host} (TLS)" if self.tls_verify else self.host


def tls_context(cert_path: str) -> ssl.SSLContext:
    """The docker CLI's layout: ca.pem, cert.pem, key.pem in one folder; every file required."""
    folder = Path(cert_path)
    files = {name: folder / name for name in ("ca.pem", "cert.pem", "key.pem")}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise TLSProblem(
            f"DOCKER_TLS_VERIFY is set but {', '.join(missing)} missing in DOCKER_CERT_PATH={cert_path}: "
            "put the CA, client certificate and key there (as for the docker CLI)"
        )
    try:
        ctx = ssl.create_default_context(cafile=str(files["ca.pem"]))
        ctx.load_cert_chain(str(files["cert.pem"]), str(files["key.pem"]))
    except ssl.SSLError as e:
        raise TLSProblem(f"cannot load the TLS files in {cert_path}: {e.reason or e}") from None
    return ctx


T = TypeVar("T")
_SPACE = re.compile(r"[ \t\n\r]*")
LIST_SLICE = 500  # items decoded between two yields to the event loop: a few ms of work
MAX_LIST_BYTES = 256 * 1024 * 1024  # 20,000 tasks are ~19 MB: far beyond any swarm, short of exhausting memory


class MalformedList(ValueError):
    """Docker's answer is not a JSON list of objects."""


async def parse_list(raw: bytes, parse: Callable[[JSON], T], *, per_slice: int = LIST_SLICE) -> tuple[T, ...]:
    """A JSON list, decoded item by item, yielding to the event loop every ``per_slice`` items.

    The listing of 20,000 tasks is ~19 MB: ``json.loads`` and parsing it in one go hold the event
    loop for most of a second, and every websocket and heartbeat of the process waits meanwhile.
    The work is the same; only no slice of it blocks for long. Raises MalformedList on anything
    that is not a JSON list of objects; what ``parse`` raises passes through.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedList(f"not UTF-8: {e}") from None
    decoder = json.JSONDecoder()

    def space(at: int) -> int:
        return _SPACE.match(text, at).end()  # type: ignore[union-attr]

    def closed(at: int) -> None:
        if space(at + 1) != len(text):
            raise MalformedList(f"extra data after the list at character {at + 1}")

    at = space(0)
    if text[at : at + 1] != "[":
        raise MalformedList("not a JSON list")
    at = space(at + 1)
    items: list[T] = []
    if text[at : at + 1] == "]":
        closed(at)
        return ()
    while True:
        try:
            item, at = decoder.raw_decode(text, at)
        except ValueError as e:
            raise MalformedList(str(e)) from None
        if not isinstance(item, dict):
            raise MalformedList(f"item {len(items)} is not an object")
        items.append(parse(item))
        at = space(at)
        sep = text[at : at + 1]
        if sep == "]":
            closed(at)
            return tuple(items)
        if sep != ",":
            raise MalformedList(f"expected ',' or ']' at character {at}")
        at = space(at + 1)
        if len(items) % per_slice == 0:
            await asyncio.sleep(0)


def _explain(exc: BaseException, endpoint: Endpoint) -> DockerProblem:
    """Map aiodocker/aiohttp failures to one of our errors (the cause hides in __context__)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
            return TLSProblem(
                f"the Docker daemon at {endpoint.describe()} presented a certificate that the CA in "
                f"DOCKER_CERT_PATH does not trust ({_short(cause)})"
            )
        if isinstance(cause, aiohttp.ClientSSLError | ssl.SSLError):
            return TLSProblem(
                f"TLS handshake with {endpoint.describe()} failed ({_short(cause)}); check DOCKER_CERT_PATH "
                "holds a client certificate the daemon accepts"
            )
        reset = isinstance(cause, ConnectionResetError | aiohttp.ServerDisconnectedError) or (
            isinstance(cause, aiohttp.ClientOSError) and cause.errno == errno.ECONNRESET
        )
        if reset and endpoint.tls_verify:
            # with TLS 1.3 the daemon refuses a client certificate after the handshake: a reset
            return TLSProblem(
                f"{endpoint.describe()} closed the TLS connection ({_short(cause)}); check DOCKER_CERT_PATH "
                "holds a client certificate the daemon accepts"
            )
        if isinstance(cause, aiohttp.ServerDisconnectedError) and endpoint.host.startswith("tcp://"):
            if not endpoint.tls_verify:
                return TLSProblem(
                    f"{endpoint.host} closed the connection: it may require TLS (set DOCKER_TLS_VERIFY=1 "
                    "and DOCKER_CERT_PATH)"
                )
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, aiodocker.DockerError) and exc.status != 900:
        return DockerAPIError(exc.status, str(exc.message))
    where = endpoint.describe()
    hint = (
        "is dockerd running and may this user open the socket (root or the docker group)?"
        if endpoint.is_unix
        else "is the daemon listening there and reachable from here?"
    )
    return DaemonUnreachable(f"cannot reach Docker at {where}: {_short(exc)}; {hint}")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:297] + "..."


_API_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})")


def _api_tuple(raw: Any) -> tuple[int, int] | None:
    match = _API_VERSION.fullmatch(raw) if isinstance(raw, str) else None
    return (int(match[1]), int(match[2])) if match else None


def _api_str(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def negotiate(version_doc: JSON, where: str) -> str:
    """The API version to speak, from an unversioned ``GET /version``, as the docker CLI chooses it:
    the daemon's own version, capped at the newest one whose shapes we know, never below the
    daemon's minimum. Raises VersionMismatch, naming both sides, when there is no such version."""
    engine = _str(version_doc.get("Version")) or "unknown"
    daemon = _api_tuple(version_doc.get("ApiVersion"))
    if daemon is None:
        raise VersionMismatch(
            f"the Docker daemon at {where} did not say which API version it serves (GET /version has no ApiVersion)"
        )
    minimum = _api_tuple(version_doc.get("MinAPIVersion")) or (1, 12)
    chosen = min(daemon, NEWEST_API)
    if chosen < OLDEST_API:
        raise VersionMismatch(
            f"the Docker daemon at {where} (Engine {engine}) serves API {_api_str(daemon)}; this dashboard needs "
            f"API {_api_str(OLDEST_API)} or newer (Docker 20.10 or later): upgrade Docker"
        )
    if chosen < minimum:
        raise VersionMismatch(
            f"the Docker daemon at {where} (Engine {engine}) requires API {_api_str(minimum)} or newer; this "
            f"dashboard speaks API {_api_str(OLDEST_API)} to {_api_str(NEWEST_API)}: upgrade the dashboard"
        )
    return _api_str(chosen)


def _str(raw: Any) -> str:
    return raw if isinstance(raw, str) else ""


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of /events, reduced to what the watcher needs as a hint."""

    type: str  # "service", "node", "container", "secret", "config", ...
    action: str
    actor_id: str
    attributes: tuple[tuple[str, str], ...]
    time_nano: int

    def attr(self, key: str) -> str:
        return dict(self.attributes).get(key, "")


def parse_event(raw: JSON) -> Event:
    actor = as_dict(raw.get("Actor"))
    attrs = as_dict(actor.get("Attributes"))
    time_nano = raw.get("timeNano")
    if not isinstance(time_nano, int):
        time_nano = int(raw.get("time", 0) or 0) * 1_000_000_000
    return Event(
        type=str(raw.get("Type", "")),
        action=str(raw.get("Action", raw.get("status", ""))),
        actor_id=str(actor.get("ID", "")),
        attributes=tuple(sorted((str(k), str(v)) for k, v in attrs.items())),
        time_nano=time_nano,
    )


class DockerClient:
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
    def from_env(cls, **kwargs: Any) -> DockerClient:
        return cls(Endpoint.from_env(), **kwargs)

    async def __aenter__(self) -> DockerClient:
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
            self._docker.api_version = "v" + _api_str(OLDEST_API)
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
                self.engine_version = _str(doc.get("Version"))
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
        problem = _explain(exc, self.endpoint)
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

    async def info(self) -> JSON:
        return await self._get("info")

    async def check_manager(self) -> JSON:
        """GET /info; raises NotInSwarm or NotAManager when the daemon cannot serve the dashboard."""
        info = await self.info()
        swarm = as_dict(info.get("Swarm"))
        where = self.endpoint.describe()
        if swarm.get("LocalNodeState") != "active":
            raise NotInSwarm(
                f"the Docker daemon at {where} is not in swarm mode (state: "
                f"{swarm.get('LocalNodeState') or 'inactive'}): run `docker swarm init` there, or point "
                "DOCKER_HOST at a swarm manager."
            )
        if not swarm.get("ControlAvailable"):
            raise NotAManager(
                f"the Docker daemon at {where} is a swarm worker: it cannot list services or tasks. "
                "Point DOCKER_HOST at a manager node."
            )
        return info

    async def nodes(self) -> tuple[Node, ...]:
        """GET /nodes (every node of the swarm)."""
        return await self._list("nodes", None, parse_node)

    async def services(self, *, ids: tuple[str, ...] = ()) -> tuple[Service, ...]:
        """GET /services?status=true, filtered by ``id`` when ids are given."""
        params: dict[str, Any] = {"status": "true"}
        if ids:
            params["filters"] = json.dumps({"id": list(ids)})
        return await self._list("services", params, parse_service)

    async def tasks(self, *, service_ids: tuple[str, ...] = (), node_ids: tuple[str, ...] = ()) -> tuple[Task, ...]:
        """GET /tasks, filtered by ``service`` and/or ``node`` (each an OR-list)."""
        filters: dict[str, list[str]] = {}
        if service_ids:
            filters["service"] = list(service_ids)
        if node_ids:
            filters["node"] = list(node_ids)
        params = {"filters": json.dumps(filters)} if filters else None
        return await self._list("tasks", params, parse_task)

    async def secrets(self) -> tuple[Secret, ...]:
        """GET /secrets (metadata: Docker never returns a secret's value)."""
        return await self._list("secrets", None, parse_secret)

    async def configs(self) -> tuple[Config, ...]:
        """GET /configs, metadata only (the data stays out of the model)."""
        return await self._list("configs", None, parse_config)

    async def config_data(self, config_id: str) -> bytes:
        raw = await self._get(f"configs/{quote(config_id, safe='')}")
        return base64.b64decode(str(as_dict(raw.get("Spec")).get("Data", "")))

    async def create_secret(self, name: str, labels: dict[str, str], data: bytes) -> str:
        """POST /secrets/create; returns the new id. ``data`` goes to Docker and nowhere else."""
        body = json.dumps({"Name": name, "Labels": labels, "Data": base64.b64encode(data).decode()})
        result = await self._write("POST", "secrets/create", body=body)
        return str(as_dict(result).get("ID", ""))

    async def remove_secret(self, secret_id: str) -> None:
        await self._write("DELETE", f"secrets/{quote(secret_id, safe='')}")

    async def swap_service_secret(
        self, service_id: str, old_id: str, new_id: str, new_name: str, *, rollback_on_failure: bool = False
    ) -> int:
        """Point a service's uses of one secret at another, same target path: a rolling update.

        The service's own update policy stays as it is, unless ``rollback_on_failure`` asks to set
        its UpdateConfig.FailureAction to rollback (a lasting change of the service, which the
        caller must say and audit). Returns how many references were swapped (0: nothing to do).
        """
        raw = await self._get(f"services/{quote(service_id, safe='')}")
        spec = as_dict(raw.get("Spec"))
        container = as_dict(as_dict(spec.get("TaskTemplate")).get("ContainerSpec"))
        swapped = 0
        for ref in container.get("Secrets") or []:
            if isinstance(ref, dict) and ref.get("SecretID") == old_id:
                ref["SecretID"], ref["SecretName"] = new_id, new_name
                swapped += 1
        if swapped:
            if rollback_on_failure:
                update = spec.setdefault("UpdateConfig", {})
                update["FailureAction"] = "rollback"
                update.setdefault("Monitor", 5_000_000_000)
            version = as_dict(raw.get("Version")).get("Index")
            await self._write(
                "POST", f"services/{quote(service_id, safe='')}/update", params={"version": str(version)},
                body=json.dumps(spec),
            )  # fmt: skip
        return swapped

    async def local_node_id(self) -> str:
        if self._local_node_id is None:
            self._local_node_id = str(as_dict((await self.info()).get("Swarm")).get("NodeID", ""))
        return self._local_node_id

    async def task_detail(
        self, task_id: str, *, service_tasks: Callable[[str], Iterable[Task] | None] | None = None
    ) -> tuple[TaskDetail, JSON]:
        """One task in full, and its inspect JSON with env values masked (the clear values stay here).

        GET /tasks/{id}, /services/{id}, and /containers/{id}/json for health when the container
        runs on the node we talk to (a manager cannot inspect containers on other nodes). The
        slot's history comes from ``service_tasks(service_id)`` - the live model, so that a viewer
        opening a panel costs Docker no listing - or, without it (or when it answers None: the
        model is not live), from /tasks?filters={"service":[id]}.
        """
        raw = await self._get(f"tasks/{quote(task_id, safe='')}")
        task = parse_task(raw)
        try:
            raw_service = await self._get(f"services/{quote(task.service_id, safe='')}")
        except DockerAPIError as e:
            if e.status != 404:
                raise
            raw_service = None  # the service is gone; its last tasks still tell their story
        siblings: Iterable[Task] = ()
        if raw_service is not None:
            from_model = service_tasks(task.service_id) if service_tasks is not None else None
            siblings = await self.tasks(service_ids=(task.service_id,)) if from_model is None else from_model
        same_slot = tuple(
            t for t in siblings if (t.slot == task.slot if task.slot is not None else t.node_id == task.node_id)
        )
        container = None
        if task.container_id and task.node_id == await self.local_node_id():
            try:
                container = await self._get(f"containers/{quote(task.container_id, safe='')}/json")
            except DockerAPIError:
                container = None  # already removed
        return parse_detail(raw, raw_service, same_slot, container), mask_env(raw)

    async def task_log_driver(self, task_id: str) -> str:
        """The log driver a task's container uses: the task's own, else the daemon's default."""
        raw = await self._get(f"tasks/{quote(task_id, safe='')}")
        name = as_dict(as_dict(raw.get("Spec")).get("LogDriver")).get("Name")
        if not name:
            name = (await self.info()).get("LoggingDriver", "")
        return str(name)

    async def task_env_value(self, task_id: str, name: str) -> str | None:
        """One env value of one task, read fresh; the caller checks the permission and audits."""
        return env_value(await self._get(f"tasks/{quote(task_id, safe='')}"), name)

    async def task_logs(self, task_id: str, *, follow: bool, tail: int, since: int = 0) -> AsyncIterator[LogLine]:
        """GET /tasks/{id}/logs (stdout, stderr, timestamps), demultiplexed into lines.

        The stream stays open while ``follow``; it is closed when the iterator is closed (the
        panel closed, the socket dropped) - ``open_log_streams`` counts the ones open.
        """
        driver = await self.task_log_driver(task_id)
        if driver == "none":
            raise LogsUnavailable("this task's logging driver is none: Docker keeps no output to show")
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0"}
        params["tail"] = str(tail) if tail >= 0 else "all"
        if since:
            params["since"] = str(since)
        self.requests["GET /tasks/logs"] += 1
        # no time bound on opening: with follow, Docker answers only once the task writes a line
        try:
            cm = (await self._api())._query(
                f"tasks/{quote(task_id, safe='')}/logs",
                params=params,
                timeout=aiohttp.ClientTimeout(total=None, connect=self.request_timeout),
            )
            response = await cm.__aenter__()
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            problem = self._classify(e, "logs")
            if isinstance(problem, DockerAPIError) and "logging driver" in str(problem):
                raise LogsUnavailable(
                    "this task's logging driver cannot be read through the Docker API (only json-file, "
                    f"local and journald can): {problem}"
                ) from None
            raise problem from None
        global open_log_streams
        open_log_streams += 1
        try:
            async for line in demultiplex(response.content):
                yield line
        except (aiohttp.ClientError, OSError) as e:
            # Docker answered, then the stream broke: not a reason to doubt the socket or its rights
            raise DockerProblem(f"the log stream broke: {_short(e)}") from None
        finally:
            open_log_streams -= 1
            response.close()
            await cm.__aexit__(None, None, None)

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

    async def events(
        self, *, since: int | None, liveness: float, opened: asyncio.Event | None = None
    ) -> AsyncIterator[Event | None]:
        """Follow GET /events from ``since`` (seconds; inclusive, so callers de-duplicate).

        Docker sends nothing while nothing happens, and a frozen connection never errors: after
        every ``liveness`` seconds of silence this yields None, and the caller decides whether the
        silence needs a proof of life (see dashboard.watcher). ``opened`` is set once
        Docker has accepted the request: events from then on will arrive.
        """
        params: dict[str, Any] = {"filters": json.dumps({"type": ["service", "node", "container", "secret", "config"]})}
        if since is not None:
            params["since"] = str(since)
        self.requests["GET /events"] += 1
        try:
            async with asyncio.timeout(self.request_timeout):
                docker = await self._api()
                cm = docker._query("events", params=params, timeout=aiohttp.ClientTimeout(total=None))
                response = await cm.__aenter__()
        except TimeoutError:
            raise DaemonUnreachable(f"Docker at {self.endpoint.describe()} did not open /events") from None
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise self._classify(e, "events") from None
        self._answered()
        if opened is not None:
            opened.set()
        try:
            while True:
                try:
                    async with asyncio.timeout(liveness):
                        line = await response.content.readline()
                except TimeoutError:
                    yield None  # silence: the caller decides whether the daemon must prove it is alive
                    continue
                except ValueError as e:  # aiohttp: a line over its buffer (a container with huge labels)
                    raise DockerAPIError(
                        200, f"an /events line too long to read ({e}); listing everything again"
                    ) from None
                if not line:
                    raise DaemonUnreachable(f"Docker at {self.endpoint.describe()} closed the /events stream")
                self._answered()
                line = line.strip()
                if not line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue  # a torn line from a dying connection; the resync after reconnect covers it
                if isinstance(raw, dict):
                    yield parse_event(raw)
        except (aiohttp.ClientError, OSError) as e:
            raise self._classify(e, "events") from None
        finally:
            await cm.__aexit__(None, None, None)


async def check_connection(endpoint: Endpoint | None = None) -> tuple[DockerClient, JSON]:
    """Connect and prove the daemon is a swarm manager; for start-up checks."""
    client = DockerClient(endpoint or Endpoint.from_env(), request_timeout=5.0)
    try:
        info = await client.check_manager()
    except BaseException:
        await client.close()
        raise
    return client, info
