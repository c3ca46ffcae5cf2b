"""The read side a swarm dashboard uses: /_ping, /version, /info, nodes, services, tasks, /events and the
containers of node 1."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bench.simulator import events as ev
from bench.simulator.containers import container_doc
from bench.simulator.model import (
    JSON,
    KERNEL,
    TASK_HISTORY_LIMIT,
    TASK_STATES,
    ApiError,
    Node,
    Service,
    Task,
    dumps,
    rfc3339,
)
from bench.simulator.profiles import Version

if TYPE_CHECKING:
    from bench.simulator.server import Simulator


# the request's API version, as the middleware checked it
API_VERSION: web.RequestKey[Version] = web.RequestKey("api_version", tuple)


def version_of(request: web.Request) -> Version:
    return request[API_VERSION]


def json_response(doc: Any, status: int = 200) -> web.Response:
    return json_bytes(dumps(doc) + b"\n", status)


def json_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def filters(sim: Simulator, request: web.Request, accepted: Iterable[str]) -> dict[str, list[str]]:
    """Docker's ``filters`` parameter: ``{"key": ["a", "b"]}`` or the older ``{"key": {"a": true}}``."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as e:
        raise sim.profile.malformed_filters(f"invalid filters: {e}") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, list | dict) for v in parsed.values()):
        raise sim.profile.malformed_filters("invalid filters: expected an object of lists or maps")
    for key in parsed:
        if key not in accepted:
            raise sim.profile.invalid_filter(key)
    return {k: [str(v) for v in values] for k, values in parsed.items() if values}


async def ping(sim: Simulator, request: web.Request) -> web.Response:
    return web.Response(text="OK", headers=sim.profile.ping_headers())


async def version(sim: Simulator, request: web.Request) -> web.Response:
    return json_response(sim.profile.version_doc(KERNEL))


async def info(sim: Simulator, request: web.Request) -> web.Response:
    return json_response(info_doc(sim, version_of(request)))


async def nodes_list(sim: Simulator, request: web.Request) -> web.Response:
    wanted = filters(sim, request, {"id", "name", "role", "membership", "label", "node.label"})
    nodes = [n for n in sorted(sim._nodes.values(), key=lambda n: n.id) if _node_matches(n, wanted)]
    return json_bytes(b"[" + b",".join(sim.node_bytes(n) for n in nodes) + b"]\n")


async def node_inspect(sim: Simulator, request: web.Request) -> web.Response:
    return json_bytes(sim.node_bytes(sim.find_node(request.match_info["id"])) + b"\n")


async def services_list(sim: Simulator, request: web.Request) -> web.Response:
    wanted = filters(sim, request, {"id", "name", "label", "mode"})
    status = request.query.get("status", "") in ("1", "true", "True")
    services = sorted(sim._services.values(), key=lambda s: s.id)
    parts = [sim.service_bytes(s, status=status) for s in services if _service_matches(s, wanted)]
    return json_bytes(b"[" + b",".join(parts) + b"]\n")


async def service_inspect(sim: Simulator, request: web.Request) -> web.Response:
    service = sim.find_service(request.match_info["id"])
    return json_bytes(sim.service_bytes(service, status=False) + b"\n")


async def tasks_list(sim: Simulator, request: web.Request) -> web.Response:
    accepted = {"id", "name", "label", "service", "node", "desired-state", "runtime", "_up-to-date"}
    wanted = filters(sim, request, accepted)
    if not wanted:
        return json_bytes(sim.all_tasks_body())
    for state in wanted.get("desired-state", []):
        if state not in TASK_STATES:
            raise ApiError(500, f"Invalid desired-state filter: '{state}'")
    tasks = sorted((t for t in sim.task_candidates(wanted) if _task_matches(t, wanted)), key=lambda t: t.id)
    return json_bytes(b"[" + b",".join(sim.task_bytes(t) for t in tasks) + b"]\n")


async def task_inspect(sim: Simulator, request: web.Request) -> web.Response:
    return json_bytes(sim.task_bytes(sim.find_task(request.match_info["id"])) + b"\n")


async def container_inspect(sim: Simulator, request: web.Request) -> web.Response:
    task = sim.find_container(request.match_info["id"])
    doc, go_map = container_doc(task, sim.profile, version_of(request), sim._now())
    return json_bytes(dumps(doc, sort_keys=go_map) + b"\n")


async def events(sim: Simulator, request: web.Request) -> web.StreamResponse:
    since = ev.timestamp(request.query.get("since"))
    until = ev.timestamp(request.query.get("until"))
    ev.check_window(since, until, request.query)
    match = ev.event_filter(filters(sim, request, ev.EVENT_FILTERS))
    media = ev.negotiate(request.headers.get("Accept", ""), legacy=sim.profile.legacy)
    if sim.profile.legacy:
        style = ev.LEGACY
    else:
        style = ev.BACKFILLED if version_of(request) < (1, 52) else ev.CURRENT
    response = web.StreamResponse(headers={"Content-Type": media})
    response.enable_chunked_encoding()
    await response.prepare(request)
    listener, backlog = sim.events.subscribe()
    try:
        if since is not None or until is not None:  # either one asks for the past, as in dockerd
            for item in backlog:
                if item.when >= (since or 0) and (until is None or item.when <= until) and match(item.event):
                    await response.write(item.line(style, media))
        async for item in ev.live(listener, until):
            if match(item.event):
                await response.write(item.line(style, media))
    except ConnectionError:
        pass  # the client went away
    finally:
        sim.events.unsubscribe(listener)
    return response


def _node_matches(node: Node, wanted: dict[str, list[str]]) -> bool:
    """``id`` and ``name`` match by prefix; ``label`` means engine labels, which these nodes have none of."""
    return (
        any(node.id.startswith(v) for v in wanted.get("id", [""]))
        and any(node.hostname.startswith(v) for v in wanted.get("name", [""]))
        and node.role in wanted.get("role", [node.role])
        and "accepted" in wanted.get("membership", ["accepted"])
        and ev.labels_match({}, wanted.get("label", []))
        and ev.labels_match(node.labels, wanted.get("node.label", []))
    )


def _service_matches(service: Service, wanted: dict[str, list[str]]) -> bool:
    mode = "global" if service.is_global else "replicated"
    return (
        any(service.id.startswith(v) for v in wanted.get("id", [""]))
        and any(service.name.startswith(v) for v in wanted.get("name", [""]))
        and ev.labels_match(service.spec.get("Labels") or {}, wanted.get("label", []))
        and mode in wanted.get("mode", [mode])
    )


def _task_matches(task: Task, wanted: dict[str, list[str]]) -> bool:
    if "id" in wanted and not any(task.id.startswith(v) for v in wanted["id"]):
        return False
    if "desired-state" in wanted and task.desired_state not in wanted["desired-state"]:
        return False
    if "name" in wanted:
        name = f"{task.service_name}.{task.slot if task.slot is not None else task.node_id}"
        if not any(name.startswith(v) for v in wanted["name"]):
            return False
    return "label" not in wanted  # tasks carry no labels of their own here


def info_doc(sim: Simulator, version: Version) -> JSON:
    local = sim._nodes[sim.local_node_id]
    containers = [t for t in sim.tasks_on(local.id) if t.container_id]
    running = sum(1 for t in containers if t.state == "running")
    managers = [n for n in sim._nodes.values() if n.role == "manager"]
    doc: JSON = {
        "ID": sim._daemon_id,
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": len(containers) - running,
        "Images": len({t.spec["ContainerSpec"]["Image"] for t in containers}),
        "Driver": sim.profile.storage_driver,
        "NCPU": local.nano_cpus // 1_000_000_000,
        "MemTotal": local.memory_bytes,
        "KernelVersion": KERNEL,
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "OSVersion": "12",
        "OSType": "linux",
        "Architecture": "x86_64",
        "Name": local.hostname,
        "ServerVersion": sim.profile.engine,
        "SystemTime": rfc3339(sim._now()),
        "Swarm": {
            "NodeID": local.id,
            "NodeAddr": local.addr,
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": [{"NodeID": n.id, "Addr": f"{n.addr}:2377"} for n in managers],
            "Nodes": len(sim._nodes),
            "Managers": len(managers),
            "Cluster": _cluster_doc(sim),
        },
        "Warnings": None,
    }
    return doc | sim.profile.info_extras(version)


def _cluster_doc(sim: Simulator) -> JSON:
    born = sim._born_ns
    return {
        "ID": sim._cluster_id,
        "Version": {"Index": 10},
        "CreatedAt": rfc3339(born - 86_400_000_000_000),
        "UpdatedAt": rfc3339(born - 86_300_000_000_000),
        "Spec": {
            "Name": "default",
            "Labels": {},
            "Orchestration": {"TaskHistoryRetentionLimit": TASK_HISTORY_LIMIT},
            "Raft": {
                "SnapshotInterval": 10000,
                "KeepOldSnapshots": 0,
                "LogEntriesForSlowFollowers": 500,
                "ElectionTick": 10,
                "HeartbeatTick": 1,
            },
            "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
            "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000},
            "TaskDefaults": {},
            "EncryptionConfig": {"AutoLockManagers": False},
        },
        "TLSInfo": sim._tls_info,
        "RootRotationInProgress": False,
        "DefaultAddrPool": ["10.0.0.0/8"],
        "SubnetSize": 24,
        "DataPathPort": 4789,
    }
