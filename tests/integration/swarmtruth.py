"""Compare the dashboard's model with a fresh listing from Docker, the way a user would check it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dashboard.core.shared.replica import Follower
from dashboard.core.watch import Watcher
from dashboard.live.wire import snapshot_json
from tests.lab import Lab

ACTIVE = {"assigned", "accepted", "preparing", "ready", "starting", "running"}


def truth(lab: Lab) -> dict[str, Any]:
    """What Docker says right now, with a down node's active tasks called orphaned, less the tasks
    of services already removed (Docker deletes them only once they have shut down; the model
    drops them with their service)."""
    nodes = lab.api("/nodes")
    services = lab.api("/services")
    tasks = lab.api("/tasks")
    down = {n["ID"] for n in nodes if n["Status"]["State"] in ("down", "disconnected")}
    return {
        "nodes": {n["ID"]: (n["Status"]["State"], n["Spec"]["Availability"], n["Spec"]["Role"]) for n in nodes},
        "services": {
            s["ID"]: (s["Spec"]["Name"], s["Spec"]["Mode"].get("Replicated", {}).get("Replicas")) for s in services
        },
        "tasks": {
            t["ID"]: (
                t["ServiceID"],
                t.get("NodeID", ""),
                t["DesiredState"],
                "orphaned" if t.get("NodeID") in down and t["Status"]["State"] in ACTIVE else t["Status"]["State"],
                t["Status"].get("Err", ""),
            )
            for t in tasks
            if t["ServiceID"] in {s["ID"] for s in services}
        },
    }


def model(watcher: Watcher | Follower) -> dict[str, Any]:
    """The same view of the watcher's published snapshot, through its wire format."""
    return model_of_json(snapshot_json(watcher.snapshot))


def model_of_json(snap: dict[str, Any]) -> dict[str, Any]:
    """The same view of a model in its wire format (/api/snapshot, or what a page holds)."""
    return {
        "nodes": {n["id"]: (n["state"], n["availability"], n["role"]) for n in snap["nodes"]},
        "services": {s["id"]: (s["name"], s["replicas"]) for s in snap["services"]},
        "tasks": {
            t["id"]: (t["service_id"], t["node_id"], t["desired_state"], t["state"], t["error"]) for t in snap["tasks"]
        },
    }


def _difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines = []
    for kind in ("nodes", "services", "tasks"):
        for key in sorted(set(a[kind]) | set(b[kind])):
            if a[kind].get(key) != b[kind].get(key):
                lines.append(f"{kind} {key}: docker={a[kind].get(key)} model={b[kind].get(key)}")
    return "\n".join(lines[:20])


async def docker_reaches(lab: Lab, expectation: Any, *, timeout: float = 40, what: str = "") -> dict[str, Any]:
    """Wait (bounded) until Docker's own listing satisfies ``expectation``; returns that listing."""
    deadline = time.monotonic() + timeout
    while True:
        now = await asyncio.to_thread(truth, lab)
        if expectation(now):
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"Docker never reached: {what or expectation}")
        await asyncio.sleep(0.1)


async def model_matches(lab: Lab, watcher: Watcher | Follower, *, within: float = 2.0) -> float:
    """The model equals a fresh listing from Docker within ``within`` seconds; returns how long it took."""
    t0 = time.monotonic()
    while True:
        docker = await asyncio.to_thread(truth, lab)
        mine = model(watcher)
        if docker == mine:
            return time.monotonic() - t0
        if time.monotonic() - t0 > within:
            raise AssertionError(f"model differs from Docker after {within}s:\n{_difference(docker, mine)}")
        await asyncio.sleep(0.05)


def service_tasks(listing: dict[str, Any], service_id: str) -> list[tuple[Any, ...]]:
    return [t for t in listing["tasks"].values() if t[0] == service_id]


def running(listing: dict[str, Any], service_id: str) -> int:
    return sum(1 for t in service_tasks(listing, service_id) if t[2] == "running" and t[3] == "running")
