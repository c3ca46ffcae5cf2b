"""Change-to-model latency on the real lab, with the swarm's own scheduling time measured apart.

A 3-node lab; one service scaled back and forth between LOW and HIGH replicas through the Engine
API (what `docker service scale` sends). The dashboard's Watcher runs in this process with the
dashboard's default settings; a subscriber timestamps every published patch. Beside it, a thread
polls Docker's own /tasks for the service every 20 ms: that is when Docker itself shows the change.

Per change, from the moment the scale call returns:
  docker running   Docker's /tasks shows the service at its new count of running tasks
  model running    the first published patch after which the model shows the same
  model lag        model running - docker running (what the dashboard adds beyond the swarm)
  docker/model new the new desired tasks appear (any state) - for scaling up

    .venv/bin/python -m bench.change_latency [--trials 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench import harness
from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import Watcher, WatchSettings

LOW, HIGH = 3, 6


@dataclass
class Trial:
    direction: str
    target: int
    scale_call_ms: float
    docker_new_ms: float | None
    model_new_ms: float | None
    docker_running_ms: float | None
    model_running_ms: float | None

    @property
    def lag_ms(self) -> float | None:
        if self.docker_running_ms is None or self.model_running_ms is None:
            return None
        return self.model_running_ms - self.docker_running_ms


class ModelLog:
    """Every published snapshot, reduced to one service: (monotonic time, running ids, desired ids)."""

    def __init__(self, service_id: str) -> None:
        self.service_id = service_id
        self.samples: list[tuple[float, frozenset[str], frozenset[str]]] = []
        self.patches = 0

    async def __call__(self, snapshot: Snapshot, patch: Patch) -> None:
        t = time.monotonic()
        self.patches += 1
        mine = [task for task in snapshot.tasks.values() if task.service_id == self.service_id]
        running = frozenset(x.id for x in mine if x.state == "running" and not x.orphaned)
        desired = frozenset(x.id for x in mine if x.desired_state == "running")
        self.samples.append((t, running, desired))

    def first(self, after: float, predicate: Any) -> float | None:
        for t, running, desired in self.samples:
            if t >= after and predicate(running, desired):
                return t
        return None

    def latest(self) -> tuple[frozenset[str], frozenset[str]]:
        if not self.samples:
            return frozenset(), frozenset()
        return self.samples[-1][1], self.samples[-1][2]


def _ms(t: float | None, since: float) -> float | None:
    return None if t is None else (t - since) * 1000


async def measure(
    sock: str, docker_host: str, trials: int, reconcile: float | None
) -> tuple[list[Trial], dict[str, Any]]:
    api = harness.DockerAPI(sock)
    service_id = await asyncio.to_thread(api.create_service, f"lat-{uuid.uuid4().hex[:6]}", LOW)
    await asyncio.to_thread(api.wait_running, service_id, LOW)
    log = ModelLog(service_id)
    # the watcher's own defaults (those of visualizer/settings.py too), unless a reconcile period is given
    settings = WatchSettings() if reconcile is None else WatchSettings(reconcile=reconcile)
    watcher = Watcher(lambda: DockerClient(Endpoint(host=docker_host)), settings)
    watcher.subscribe(log)
    running_watcher = asyncio.create_task(watcher.run(), name="bench-watcher")
    poller = harness.TaskPoller(sock, service_id)
    results: list[Trial] = []
    try:
        await watcher.wait_for(lambda s: s.status.state == "live", 30)
        poller.start()
        await asyncio.sleep(1.0)
        for i in range(trials * 2):
            target = HIGH if i % 2 == 0 else LOW
            direction = "up" if target == HIGH else "down"
            before_desired = log.latest()[1]
            t0 = time.monotonic()
            await asyncio.to_thread(api.scale, service_id, target)
            t1 = time.monotonic()

            def shows_running(running: frozenset[str], desired: frozenset[str], n: int = target) -> bool:
                return len(running) == n and running <= desired

            def shows_new(
                running: frozenset[str], desired: frozenset[str], old: frozenset[str] = before_desired
            ) -> bool:
                return len(desired) == HIGH and bool(desired - old)

            deadline = t1 + 30
            while time.monotonic() < deadline:
                if poller.first(t0, shows_running) and log.first(t0, shows_running):
                    break
                await asyncio.sleep(0.05)
            up = direction == "up"
            trial = Trial(
                direction=direction,
                target=target,
                scale_call_ms=(t1 - t0) * 1000,
                docker_new_ms=_ms(poller.first(t0, shows_new), t1) if up else None,
                model_new_ms=_ms(log.first(t0, shows_new), t1) if up else None,
                docker_running_ms=_ms(poller.first(t0, shows_running), t1),
                model_running_ms=_ms(log.first(t0, shows_running), t1),
            )
            results.append(trial)
            print(
                f"  {i + 1:3d} {direction:4s} docker {trial.docker_running_ms or -1:7.0f} ms  "
                f"model {trial.model_running_ms or -1:7.0f} ms  lag {trial.lag_ms or -1:6.0f} ms",
                file=sys.stderr,
                flush=True,
            )
            # let the settle follow-ups of this change run out, so each change starts from quiet
            await asyncio.sleep(1.0 + (i % 5) * 0.13)
    finally:
        poller.stop()
        running_watcher.cancel()
        await asyncio.gather(running_watcher, return_exceptions=True)
        await asyncio.to_thread(api.remove_service, service_id)
        api.close()
    extra = {
        "watch_settings": dataclasses.asdict(settings),
        "docker_requests_by_model": dict(watcher.request_counts()),
        "patches_published": log.patches,
        "poller_requests": poller.requests,
    }
    return results, extra


def report(trials: list[Trial], extra: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    figures: dict[str, Any] = {}
    for direction in ("up", "down"):
        mine = [t for t in trials if t.direction == direction]
        series = {
            "scale call": [t.scale_call_ms for t in mine],
            "docker: new tasks listed": [t.docker_new_ms for t in mine if t.docker_new_ms is not None],
            "model: new tasks published": [t.model_new_ms for t in mine if t.model_new_ms is not None],
            "docker: running": [t.docker_running_ms for t in mine if t.docker_running_ms is not None],
            "model: running": [t.model_running_ms for t in mine if t.model_running_ms is not None],
            "model lag beyond docker": [t.lag_ms for t in mine if t.lag_ms is not None],
        }
        for name, values in series.items():
            if not values:
                continue
            s = harness.summary(values)
            figures[f"{direction}: {name}"] = s
            rows.append([f"{direction} {LOW}->{HIGH}" if direction == "up" else f"down {HIGH}->{LOW}", name,
                         s["n"], s["p50"], s["p95"], s["max"]])  # fmt: skip
    print()
    print(harness.table("change-to-model latency on the lab (ms after the scale call returned)",
                        ["change", "measure", "n", "p50", "p95", "max"], rows))  # fmt: skip
    lag = [t.lag_ms for t in trials if t.lag_ms is not None]
    up_lag = [t.lag_ms for t in trials if t.lag_ms is not None and t.direction == "up"]
    p50 = harness.summary(lag).get("p50", float("nan"))
    print(f"\nmodel lag beyond Docker, all {len(lag)} changes: p50 {p50:.0f} ms "
          f"(up only: p50 {harness.summary(up_lag).get('p50', float('nan')):.0f} ms); "
          f"target p50 <= 150 ms: {'met' if p50 <= 150 else 'NOT met'}")  # fmt: skip
    print(f"model's Docker requests during the run: {extra['docker_requests_by_model']}")
    return {
        "benchmark": "change_latency",
        "machine": harness.machine(),
        "settings": {"low": LOW, "high": HIGH, "trials": args.trials, **extra.pop("watch_settings")},
        "figures": figures,
        "trials": [t.__dict__ for t in trials],
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.change_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="changes in each direction (default 30)")
    parser.add_argument("--quick", action="store_true", help="8 changes in each direction")
    parser.add_argument(
        "--reconcile", type=float, default=None, help="the watcher's reconcile period (default: its own)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = 8
    harness.need_root("bench.change_latency")
    harness.interrupt_on_sigterm()
    started = harness.machine()
    with harness.lab("latency") as lab:
        trials, extra = asyncio.run(measure(lab.sock(1), lab.docker_host, args.trials, args.reconcile))
    data = report(trials, extra, args)
    data["machine_at_start"] = started
    print(f"results: {harness.save('change_latency', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
