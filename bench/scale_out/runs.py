"""The three runs: broadcast latency by viewers, Docker requests by processes, a reconnect storm."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from bench import harness
from bench.scale_out.book import Histogram
from bench.scale_out.cluster import Cluster, FleetHost, PeakRss, Usage, fleets, sent_on_port, usage


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def churn(sim: harness.SimHost, rate: float) -> None:
    """Task failures on node 1 at ``rate`` per second until cancelled: each is an event, so a steady
    stream of small patches (the failure, then the replacement stepping through its states)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(1_000_000):
        await asyncio.to_thread(sim.call, "fail", local=True)
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - loop.time()))


def usages(pids: dict[str, int]) -> dict[str, Usage]:
    return {name: usage(pid) for name, pid in pids.items()}


def shares(before: dict[str, Usage], after: dict[str, Usage]) -> dict[str, dict[str, float]]:
    return {
        name: {
            "cpu_pct": before[name].cpu_share(after[name]),
            "wait_pct": before[name].wait_share(after[name]),
            "rss_mb": after[name].rss / 2**20,
        }
        for name in before
    }


async def call(host: FleetHost, op: str, within: float = 60, **args: Any) -> dict[str, Any]:
    return await asyncio.to_thread(host.call, op, within, **args)


# --- 1. broadcast latency --------------------------------------------------------------------------------


def latency_figures(published: dict[str, float], answers: list[dict[str, Any]], viewers: int) -> dict[str, Any]:
    """Per patch: the time until every viewer had it (its last arrival); per delivery: each arrival.
    ``published`` empty (no stream to probe): a patch's first arrival at any viewer stands in."""
    seqs: dict[str, list[float]] = {}
    hist = Histogram()
    for answer in answers:
        hist.merge(Histogram(answer["hist"]))
        for key, (count, first, last) in answer["seqs"].items():
            have = seqs.setdefault(key, [0, first, last])
            have[0] += count
            have[1] = min(have[1], first)
            have[2] = max(have[2], last)
    clock = "stream probe"
    if not published:
        clock = "first viewer"
        published = {key: first for key, (_n, first, _l) in seqs.items()}
        hist = Histogram()  # per delivery needs the publish time; not measured this way
    every = [seqs[k][2] - t for k, t in published.items() if k in seqs and seqs[k][0] >= viewers]
    missed = sum(max(0, viewers - (seqs[k][0] if k in seqs else 0)) for k in published)
    every_hist = Histogram()
    every_hist.extend(every)
    return {
        "clock": clock,
        "patches": len(published),
        "complete": len(every),
        "missed_deliveries": missed,
        "every_p50_ms": every_hist.percentile(50),
        "every_p99_ms": every_hist.percentile(99),
        "every_max_ms": every_hist.percentile(100),
        "delivery_p50_ms": hist.percentile(50),
        "delivery_p99_ms": hist.percentile(99),
        "delivery_n": hist.n,
    }


async def broadcast(args: argparse.Namespace) -> dict[str, Any]:
    say(f"broadcast: simulator {args.nodes} nodes / {args.tasks} tasks, two processes on one Redis")
    out: dict[str, Any] = {"points": []}
    with (
        harness.SimHost(nodes=args.nodes, tasks=args.tasks) as sim,
        Cluster(sim.docker_host, profile=args.profile) as cluster,
    ):
        dashes = [await asyncio.to_thread(cluster.add) for _ in range(2)]
        leader = await asyncio.to_thread(cluster.wait_one_leader)
        out["leader"] = dashes.index(leader)
        probe = cluster.probe()
        try:
            with fleets(2) as hosts:
                pids = {f"process {i + 1}{' (leader)' if d is leader else ''}": d.proc.pid
                        for i, d in enumerate(dashes) if d.proc is not None}  # fmt: skip
                pids |= {"redis": cluster.redis.proc.pid} | {f"fleet {i + 1}": h.pid for i, h in enumerate(hosts)}
                have = 0
                for level in args.levels:
                    per = level // 2 - have
                    opened = await asyncio.gather(*(
                        call(h, "open", args.connect_timeout + 30, url=d.url, cookie=d.cookie, count=per,
                             concurrency=args.concurrency, timeout=args.connect_timeout)
                        for h, d in zip(hosts, dashes, strict=True)
                    ))  # fmt: skip
                    have += per
                    loaded = sum(o["loaded"] for o in opened) + (level - 2 * per)
                    say(f"  {level} viewers: {loaded} hold the model")
                    point = await measure_broadcast(sim, hosts, probe, pids, level, args)
                    lasts = [o["last_loaded"] for o in opened]
                    # this level's new viewers, from asking to the last holding its model (None: not all did)
                    point["connect_seconds"] = (
                        None if None in lasts or loaded < level else max(lasts) - min(o["started"] for o in opened)
                    )
                    out["points"].append(point)
                    f = point["latency"]
                    say(f"  {level} viewers: all had it p50 {f['every_p50_ms']} ms, p99 {f['every_p99_ms']} ms "
                        f"({f['complete']}/{f['patches']} reached all; {f['missed_deliveries']} missed)")  # fmt: skip
                out["fleets"] = [await call(h, "close", 120) for h in hosts]
        finally:
            probe.stop()
    out["logged"] = cluster.problems
    return out


async def measure_broadcast(
    sim: harness.SimHost, hosts: list[FleetHost], probe: Any, pids: dict[str, int], level: int,
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    await asyncio.sleep(args.settle)
    status0 = [await call(h, "status") for h in hosts]
    for host in hosts:
        await call(host, "mark")
    before = usages(pids)
    commands0 = await asyncio.to_thread(probe.commands)
    t0 = time.monotonic()
    driver = asyncio.create_task(churn(sim, args.rate))
    await asyncio.sleep(args.window)
    driver.cancel()
    await asyncio.gather(driver, return_exceptions=True)
    t1 = time.monotonic()
    after = usages(pids)
    await asyncio.sleep(args.drain)  # the last patches reach every viewer
    commands1 = await asyncio.to_thread(probe.commands)
    published = probe.between(t0, t1)
    answers = [await call(h, "arrivals", 120, publish=published) for h in hosts]
    status1 = [await call(h, "status") for h in hosts]
    viewers = sum(s["loaded"] for s in status0)
    counters = ("gaps", "foreign", "stale", "models", "connects")
    latency = latency_figures(published, answers, viewers)
    cpu = sum(before[k].cpu_share(after[k]) / 100 * (t1 - t0) for k in before if k.startswith("process"))
    return {
        "viewers": level,
        "loaded": viewers,
        "seconds": t1 - t0,
        "patches_per_s": len(published) / (t1 - t0),
        "latency": latency,
        # the dashboards' CPU over the window per patch delivered to a socket: the fan-out's unit cost
        "cpu_ms_per_delivery": 1000 * cpu / latency["delivery_n"] if latency["delivery_n"] else None,
        "processes": shares(before, after),
        "during": {k: sum(b[k] - a[k] for a, b in zip(status0, status1, strict=True)) for k in counters},
        "closes": [s["closes"] for s in status1],
        # what the fan-out asks of Redis: commands per second by command, over the window and the drain
        "redis_commands_per_s": {
            k: round((n - commands0.get(k, 0)) / (t1 - t0 + args.drain), 1)
            for k, n in sorted(commands1.items(), key=lambda kv: commands0.get(kv[0], 0) - kv[1])
            if n > commands0.get(k, 0)
        },
    }


# --- 2. Docker requests by processes ---------------------------------------------------------------------


async def docker_load(args: argparse.Namespace) -> dict[str, Any]:
    say(f"docker load: 1, 2, 3 processes, {args.docker_seconds:g} s each under the same churn")
    rows = []
    with harness.SimHost(nodes=args.nodes, tasks=args.tasks) as sim, Cluster(sim.docker_host) as cluster:
        for processes in (1, 2, 3):
            await asyncio.to_thread(cluster.add)
            await asyncio.to_thread(cluster.wait_one_leader)
            await asyncio.sleep(args.settle)
            before = [await asyncio.to_thread(d.requests) for d in cluster.dashboards]
            sim_before = await asyncio.to_thread(sim.call, "requests")
            t0 = time.monotonic()
            driver = asyncio.create_task(churn(sim, args.rate))
            await asyncio.sleep(args.docker_seconds)
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
            seconds = time.monotonic() - t0
            after = [await asyncio.to_thread(d.requests) for d in cluster.dashboards]
            sim_after = await asyncio.to_thread(sim.call, "requests")
            per = [sum(harness.request_rates(b, a, seconds).values()) for b, a in zip(before, after, strict=True)]
            served = sum(harness.request_rates(sim_before, sim_after, seconds).values())
            asking = sum(1 for r in per if r > 0)
            rows.append({"processes": processes, "seconds": seconds, "per_process": per, "total": sum(per),
                         "simulator_served": served, "processes_asking": asking})  # fmt: skip
            say(f"  {processes} process(es): {sum(per):.2f} Docker requests/s (the simulator served {served:.2f}/s; "
                f"{asking} process(es) asked)")  # fmt: skip
    return {"rows": rows, "logged": cluster.problems}


# --- 3. a reconnect storm --------------------------------------------------------------------------------


async def storm(args: argparse.Namespace) -> dict[str, Any]:
    say(f"storm: {args.storm_viewers} viewers at once, simulator {args.storm_nodes} nodes / {args.storm_tasks} tasks")
    runs = []
    with harness.SimHost(nodes=args.storm_nodes, tasks=args.storm_tasks) as sim, Cluster(sim.docker_host) as cluster:
        for processes in args.storm_processes:
            cluster.renew()
            dashes = [await asyncio.to_thread(cluster.add) for _ in range(processes)]
            await asyncio.to_thread(cluster.wait_one_leader)
            await asyncio.sleep(args.settle)
            runs.append(await one_storm(cluster, dashes, args))
            r = runs[-1]
            took = "-" if r["seconds"] is None else f"{r['seconds']:.1f}"
            say(f"  {processes} process(es): {r['loaded']}/{r['viewers']} hold the model after {took} s"
                f"; peak RSS {max(r['peak_rss_mb']):.0f} MB; sent {r['sent_mb']:.0f} MB"
                f"{' (stopped: RSS over the limit)' if r['rss_abort'] else ''}")  # fmt: skip
    return {"runs": runs, "logged": cluster.problems}


async def one_storm(cluster: Cluster, dashes: list[harness.Dashboard], args: argparse.Namespace) -> dict[str, Any]:
    pids = [d.proc.pid for d in dashes if d.proc is not None]
    with fleets(len(dashes)) as hosts:
        before = [usage(p) for p in pids]
        sampler = PeakRss(pids, args.rss_abort * 2**20)
        sampler.start()
        per = args.storm_viewers // len(dashes)
        opening = [
            asyncio.create_task(call(h, "open", args.storm_timeout + 30, url=d.url, cookie=d.cookie, count=per,
                                     concurrency=0, timeout=args.storm_timeout))
            for h, d in zip(hosts, dashes, strict=True)
        ]  # fmt: skip
        aborted = False
        while not all(t.done() for t in opening):
            if sampler.over.is_set():
                aborted = True
                for host in hosts:
                    await asyncio.to_thread(host.stop)  # the machine is shared: no more than the limit
                break
            await asyncio.sleep(0.1)
        opened = [r for r in await asyncio.gather(*opening, return_exceptions=True) if isinstance(r, dict)]
        peak = sampler.stop()
        after = [usage(p) for p in pids]
        wire = [sent_on_port(d.port) for d in dashes]  # before the sockets close
        status = [await call(h, "close", 120) for h in hosts] if not aborted else []
    loaded = sum(o["loaded"] for o in opened)
    done = [o["last_loaded"] for o in opened if o["last_loaded"] is not None]
    loads = sorted(x for o in opened for x in o["load_seconds"])
    sent = sum(b for b, _n in wire)
    return {
        "processes": len(dashes),
        "viewers": args.storm_viewers,
        "loaded": loaded,
        "rss_abort": aborted,
        "seconds": (max(done) - min(o["started"] for o in opened)) if done and opened else None,
        "load_p50_s": loads[len(loads) // 2] if loads else None,
        "rss_before_mb": [u.rss / 2**20 for u in before],
        "peak_rss_mb": [peak[p] / 2**20 for p in pids],
        "hwm_mb": [u.hwm / 2**20 for u in after],
        "cpu_pct": [a.cpu_share(b) for a, b in zip(before, after, strict=True)],
        "wait_pct": [a.wait_share(b) for a, b in zip(before, after, strict=True)],
        "sent_mb": sent / 2**20,
        "sent_per_viewer_kb": sent / 1024 / max(1, sum(n for _b, n in wire)),
        "sockets_measured": sum(n for _b, n in wire),
        "payload_mb": sum(o["payload"] for o in opened) / 2**20,
        "errors": [o["errors"] for o in opened],
        "closes": [s["closes"] for s in status],
    }
