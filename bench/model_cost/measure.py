"""The runs on the simulator: one task change, the reconciles, the full listing, event to patch, a profile."""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import resource
import sys
import time
from typing import Any

from bench import harness
from bench.model_cost.timing import Clock, PatchSink, StallProbe, change_record, instrument
from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import Dirty, Watcher, WatchSettings
from tests.lab import UnixHTTP

STEP_DELAY = 0.3  # seconds between two states of a starting task in the simulator


async def one_change(watcher: Watcher, client: DockerClient, service_id: str, clock: Clock) -> tuple[float, float]:
    """The refresher's work for a hint naming one service: targeted re-list, then publish."""
    clock.reset()
    w, c = time.perf_counter(), time.process_time()
    await watcher._targeted(client, Dirty(service_tasks={service_id}))
    await watcher._publish()
    return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000


async def measure(sim: harness.SimHost, trials: int, profile: bool) -> dict[str, Any]:
    info = sim.call("info")
    clock = Clock()
    client = DockerClient(Endpoint(host=sim.docker_host), request_timeout=120)
    watcher = Watcher(lambda: client, WatchSettings())
    sink = PatchSink(clock)
    watcher.subscribe(sink)
    restore = instrument(client, clock)

    # the first listing: what a (re)start costs
    w, c = time.perf_counter(), time.process_time()
    await watcher._full_sync(client)
    first_sync: dict[str, Any] = {
        "wall_ms": (time.perf_counter() - w) * 1000,
        "cpu_ms": (time.process_time() - c) * 1000,
    }
    first_sync["stages_wall_ms"] = dict(clock.wall)
    first_sync["patch_bytes"] = sink.last[0]
    print(f"first full sync: {first_sync['wall_ms']:.0f} ms wall, {len(watcher.snapshot.tasks)} tasks",
          file=sys.stderr, flush=True)  # fmt: skip

    changes: dict[str, list[dict[str, Any]]] = {"2 tasks (failure + replacement)": [], "1 task (state step)": []}
    for i in range(trials):
        failed = await asyncio.to_thread(sim.call, "fail", local=True)
        wall, cpu = await one_change(watcher, client, failed["service_id"], clock)
        changes["2 tasks (failure + replacement)"].append(change_record(wall, cpu, clock, sink))
        await asyncio.sleep(STEP_DELAY * 1.5)  # the replacement takes its next state (one task changes)
        wall, cpu = await one_change(watcher, client, failed["service_id"], clock)
        changes["1 task (state step)"].append(change_record(wall, cpu, clock, sink))
        await asyncio.sleep(STEP_DELAY * 5)  # and it settles before the next failure
        if i % 10 == 9:
            print(f"  {i + 1} changes", file=sys.stderr, flush=True)

    reconciles: dict[str, list[dict[str, Any]]] = {"full (nodes, services, tasks)": [], "tasks only (periodic)": []}
    for i in range(max(3, trials // 6)):
        for kind, full in (("full (nodes, services, tasks)", True), ("tasks only (periodic)", False)):
            clock.reset()
            async with StallProbe() as probe:
                w, c = time.perf_counter(), time.process_time()
                await watcher._reconcile(client, full=full, dirty=Dirty())
                await watcher._publish()
                wall, cpu = (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000
            reconciles[kind].append(change_record(wall, cpu, clock, sink) | {"loop_stall_ms": probe.worst_ms})
        if i == 0:
            # one change between reconciles, as in life: the publish then diffs for real
            await asyncio.to_thread(sim.call, "fail", local=False)

    profile_text = ""
    if profile:
        profiler = cProfile.Profile()
        for _ in range(10):
            failed = await asyncio.to_thread(sim.call, "fail", local=True)
            profiler.enable()
            await one_change(watcher, client, failed["service_id"], clock)
            profiler.disable()
            await asyncio.sleep(STEP_DELAY * 6)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(14)
        profile_text = out.getvalue()

    restore()
    relist = await asyncio.to_thread(full_relist_breakdown, sim.socket)
    end_to_end = await event_to_patch(sim, max(10, trials // 2))
    await client.close()
    return {
        "simulator": info,
        "first_sync": first_sync,
        "changes": changes,
        "reconciles": reconciles,
        "event_to_patch_ms": end_to_end,
        "full_relist_breakdown": relist,
        "profile_one_change": profile_text,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def full_relist_breakdown(sock: str, rounds: int = 3) -> dict[str, Any]:
    """GET /tasks of the whole swarm, split: bytes read, json.loads, parse_task (median of ``rounds``)."""
    from dashboard.core.domain import parse_task

    read, decode, parse, size = [], [], [], 0
    for _ in range(rounds):
        conn = UnixHTTP(sock, 120)
        t0 = time.perf_counter()
        conn.request("GET", "/v1.41/tasks")
        body = conn.getresponse().read()
        t1 = time.perf_counter()
        conn.close()
        raw = json.loads(body)
        t2 = time.perf_counter()
        tasks = [parse_task(x) for x in raw]
        t3 = time.perf_counter()
        read.append((t1 - t0) * 1000)
        decode.append((t2 - t1) * 1000)
        parse.append((t3 - t2) * 1000)
        size = len(body)
    return {
        "bytes": size,
        "tasks": len(tasks),
        "read_ms": harness.summary(read)["p50"],
        "json_loads_ms": harness.summary(decode)["p50"],
        "parse_task_ms": harness.summary(parse)["p50"],
    }


async def event_to_patch(sim: harness.SimHost, n: int) -> list[float]:
    """A running watcher (real refresher): failure acknowledged -> patch published with that task."""
    client_watcher = Watcher(lambda: DockerClient(Endpoint(host=sim.docker_host), request_timeout=120))
    published: list[tuple[float, frozenset[str]]] = []

    async def sub(snapshot: Snapshot, patch: Patch) -> None:
        published.append((time.monotonic(), frozenset(t.id for t in (*patch.tasks.added, *patch.tasks.changed))))

    client_watcher.subscribe(sub)
    runner = asyncio.create_task(client_watcher.run(), name="bench-watcher")
    latencies: list[float] = []
    try:
        await client_watcher.wait_for(lambda s: s.status.state == "live" and len(s.tasks) > 0, 120)
        await asyncio.sleep(1)
        for _ in range(n):
            t0 = time.monotonic()
            failed = await asyncio.to_thread(sim.call, "fail", local=True)
            for _ in range(100):
                hit = [t for t, ids in published if t >= t0 and failed["failed"] in ids]
                if hit:
                    latencies.append((hit[0] - t0) * 1000)
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(STEP_DELAY * 6)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return latencies
