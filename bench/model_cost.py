"""The model's cost at scale: one task change and a full reconcile, on the simulator at 500 nodes / 20,000 tasks.

The simulator runs in a process of its own (bench.simhost), so what is timed here is the dashboard's
work only (plus the wait for the simulator's answer, shown apart as wall vs CPU). The dashboard's
Watcher is driven step by step with its own methods, as its refresher runs them:

  one task change   a task on node 1 fails (its replacement starts); then the refresher's work
                    for that hint: _targeted (GET /tasks?filters={"service":[id]}, parse, the
                    watcher's task bookkeeping) and _publish (Snapshot.build, advance =
                    same_content + diff, and the subscriber's patch_json + json.dumps, which is
                    what dashboard.runtime sends to the group); measured for the failure itself
                    (2 tasks change: the failed one and its replacement) and for the replacement's
                    next state step (1 task changes)
  full reconcile    _reconcile(full=True) (nodes, services, tasks) + _publish; and the periodic
                    tasks-only reconcile; with the longest the event loop went without running
                    another task meanwhile (a probe that asks for a turn every millisecond), which
                    is how long every websocket and heartbeat of the process waits
  event to patch    a running Watcher: from the failure to the published patch (includes the
                    /events hop and the 20 ms coalescing window)

Stage times come from timing wrappers around the client's requests and state's build/advance as the
watcher calls them; "the rest" is the watcher's own bookkeeping (its task table, the lists of nodes
and services in a full reconcile).
A cProfile pass over the one-change path then says where the time goes.

    .venv/bin/python -m bench.model_cost [--nodes 500] [--tasks 20000] [--trials 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import dashboard.core.watch.watcher as watcher_module
from bench import harness
from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import Dirty, Watcher, WatchSettings
from dashboard.live.wire import patch_json
from tests.lab import UnixHTTP

STEP_DELAY = 0.3  # seconds between two states of a starting task in the simulator


class Clock:
    """Wall and CPU milliseconds per stage name, for the measurement under way."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall[name] += wall * 1000
        self.cpu[name] += cpu * 1000

    def sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - w, time.process_time() - c)

        return timed

    def coro(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            w, c = time.perf_counter(), time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - w, time.process_time() - c)

        return timed


class _TimedSnapshot:
    """Stands in for the watcher module's Snapshot after the watcher exists: only ``build`` is used then."""

    def __init__(self, clock: Clock) -> None:
        self.build = clock.sync("Snapshot.build", Snapshot.build)


class PatchSink:
    """The subscriber dashboard.runtime installs, without the channel layer: serialize once, keep the size."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.last: tuple[int, int, int] = (0, 0, 0)  # (bytes, task upserts, task removals)
        self.published: list[tuple[float, Patch]] = []

    async def __call__(self, snapshot: Snapshot, patch: Patch) -> None:
        w, c = time.perf_counter(), time.process_time()
        text = json.dumps({"type": "patch", **patch_json(patch)}, separators=(",", ":"))
        self.clock.add("patch_json + dumps", time.perf_counter() - w, time.process_time() - c)
        tasks = patch.tasks
        self.last = (len(text.encode()), len(tasks.added) + len(tasks.changed), len(tasks.removed))
        self.published.append((time.monotonic(), patch))


def instrument(client: DockerClient, clock: Clock) -> Callable[[], None]:
    """Timing wrappers around the calls the watcher makes; returns what puts the module back.

    Only stable entry points are wrapped (the client's requests, state's ``advance`` and
    ``Snapshot.build`` as the watcher module imports them); the watcher's own bookkeeping is what
    remains of the total.
    """
    namespace = vars(watcher_module)
    saved = {name: namespace[name] for name in ("advance", "Snapshot")}

    def restore() -> None:
        namespace.update(saved)

    client._get = clock.coro("GET + JSON decode", client._get)  # type: ignore[method-assign,assignment]
    client.tasks = clock.coro("re-list (GET, decode, parse_task)", client.tasks)  # type: ignore[method-assign,assignment]
    namespace["advance"] = clock.sync("advance (same_content + diff)", saved["advance"])
    namespace["Snapshot"] = _TimedSnapshot(clock)
    return restore


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
        changes["2 tasks (failure + replacement)"].append(_change_record(wall, cpu, clock, sink))
        await asyncio.sleep(STEP_DELAY * 1.5)  # the replacement takes its next state (one task changes)
        wall, cpu = await one_change(watcher, client, failed["service_id"], clock)
        changes["1 task (state step)"].append(_change_record(wall, cpu, clock, sink))
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
            reconciles[kind].append(_change_record(wall, cpu, clock, sink) | {"loop_stall_ms": probe.worst_ms})
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


class StallProbe:
    """The longest gap between the turns of a task that asks the event loop for one every 1 ms."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst_ms = max(self.worst_ms, (now - last) * 1000)
            last = now

    async def __aenter__(self) -> StallProbe:
        self._task = asyncio.create_task(self._run(), name="stall-probe")
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await asyncio.sleep(0.005)  # the probe's turn after the last stretch of work: that gap counts too
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _change_record(wall: float, cpu: float, clock: Clock, sink: PatchSink) -> dict[str, Any]:
    size, upserts, removed = sink.last
    named = ("re-list (GET, decode, parse_task)", "Snapshot.build", "advance (same_content + diff)")
    stages_cpu = dict(clock.cpu)
    stages_cpu["the rest"] = max(0.0, cpu - sum(stages_cpu.get(n, 0.0) for n in (*named, "patch_json + dumps")))
    return {
        "wall_ms": wall,
        "cpu_ms": cpu,
        "stages_wall_ms": dict(clock.wall),
        "stages_cpu_ms": stages_cpu,
        "patch_bytes": size,
        "task_upserts": upserts,
        "task_removals": removed,
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


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    info = data["simulator"]
    print(f"\nsimulator: {info['nodes']} nodes, {info['services']} services, {info['tasks']} tasks")
    print(f"first full sync: {data['first_sync']['wall_ms']:.0f} ms wall, {data['first_sync']['cpu_ms']:.0f} ms CPU; "
          f"its patch {data['first_sync']['patch_bytes'] / 1e6:.1f} MB")  # fmt: skip
    rows = []
    for group in ("changes", "reconciles"):
        for kind, records in data[group].items():
            walls = harness.summary([r["wall_ms"] for r in records])
            cpus = harness.summary([r["cpu_ms"] for r in records])
            rows.append([kind, walls["n"], walls["p50"], walls["p95"], walls["max"], cpus["p50"]])
    print()
    print(harness.table("processing cost per change (ms)", ["what", "n", "wall p50", "wall p95", "wall max",
                                                            "CPU p50"], rows))  # fmt: skip
    for kind, records in data["reconciles"].items():
        stalls = harness.summary([r["loop_stall_ms"] for r in records])
        print(f"{kind} reconcile: the event loop's longest stall p50 {stalls['p50']:.0f} ms, "
              f"max {stalls['max']:.0f} ms (n={stalls['n']})")  # fmt: skip
    stage_rows = []
    for group in ("changes", "reconciles"):
        for kind, records in data[group].items():
            stages: dict[str, list[float]] = defaultdict(list)
            for r in records:
                for name, ms in r["stages_cpu_ms"].items():
                    stages[name].append(ms)
            for name, values in stages.items():
                if name == "GET + JSON decode" and group == "changes":
                    continue  # inside the re-list
                stage_rows.append([kind, name, harness.summary(values)["p50"]])
    print()
    print(harness.table("where the CPU goes (p50 ms per stage)", ["what", "stage", "CPU p50"], stage_rows))
    size_rows = []
    for kind, records in data["changes"].items():
        sizes = [r["patch_bytes"] for r in records]
        upserts = [r["task_upserts"] for r in records]
        s = harness.summary(sizes)
        size_rows.append([kind, s["n"], s["p50"], s["max"], harness.summary(upserts)["p50"]])
    print()
    print(harness.table("patch size on the wire (bytes, JSON text as sent to the group)",
                        ["change", "n", "p50", "max", "task upserts p50"], size_rows))  # fmt: skip
    r = data["full_relist_breakdown"]
    print(
        f"\nGET /tasks of all {r['tasks']} tasks: {r['bytes'] / 1e6:.1f} MB; read {r['read_ms']:.0f} ms (simulator "
        f"serving included), json.loads {r['json_loads_ms']:.0f} ms, parse_task {r['parse_task_ms']:.0f} ms"
    )
    e2e = harness.summary(data["event_to_patch_ms"])
    if e2e.get("n"):
        print(
            f"\nrunning watcher, failure on node 1 -> patch published: p50 {e2e['p50']:.0f} ms, "
            f"p95 {e2e['p95']:.0f} ms, max {e2e['max']:.0f} ms (n={e2e['n']}; includes the 20 ms coalescing)"
        )
    one = harness.summary([r["wall_ms"] for r in data["changes"]["1 task (state step)"]])
    two = harness.summary([r["wall_ms"] for r in data["changes"]["2 tasks (failure + replacement)"]])
    worst = max(one["p50"], two["p50"])
    print(
        f"target: one task change at {info['tasks']} tasks processed in <= 20 ms: "
        f"{'met' if worst <= 20 else 'NOT met'} (p50 {one['p50']:.1f} / {two['p50']:.1f} ms)"
    )
    if data["profile_one_change"]:
        print("\ncProfile of 10 one-change passes (by own time):")
        lines = data["profile_one_change"].splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join(lines[max(0, start - 3) : start + 16]))
    print(f"peak RSS of this process: {data['max_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 changes")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = 10
    harness.interrupt_on_sigterm()
    started = harness.machine()
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks, step_delay=STEP_DELAY) as sim:
        data = asyncio.run(measure(sim, args.trials, args.profile))
    report(data, args)
    data.update(benchmark="model_cost", machine_at_start=started, machine=harness.machine(),
                settings={"nodes": args.nodes, "tasks": args.tasks, "trials": args.trials})  # fmt: skip
    print(f"results: {harness.save('model_cost', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
