"""Stats rounds while the dashboard is linked: every ``stats_every`` seconds one one-shot sample per
running task container (a bounded number in flight), coalesced into one Stats message (split when
it would be too large). Samples are taken only while linked: nobody would read them otherwise."""

from __future__ import annotations

import asyncio
import logging

from dashboard.agent.daemon import NodeDaemon
from dashboard.agent.link import Link, LinkFailed
from dashboard.agent.stats import NodeTotals, Sampler, split_stats
from dashboard.core.docker import DockerProblem
from dashboard.core.domain import JSON

log = logging.getLogger("dashboard.agent")

ROUND_SHARE = 0.8  # of the period: a round's samples must all answer within it, the slow ones wait for the next


async def sample(daemon: NodeDaemon, *, timeout: float) -> tuple[dict[tuple[str, str], JSON], set[str]]:
    """(task id, container id) -> raw stats of every running task container that answered in time;
    and the ids of every running task container."""
    running = await daemon.task_containers(running_only=True)
    raw = await asyncio.gather(*(daemon.one_shot_stats(container_id, timeout=timeout) for _, container_id in running))
    samples = {ids: stats for ids, stats in zip(running, raw, strict=True) if stats is not None}
    if len(samples) < len(running):
        log.debug("stats: %d of %d task containers answered in time", len(samples), len(running))
    return samples, {container_id for _, container_id in running}


async def stats_rounds(
    daemon: NodeDaemon, totals: NodeTotals, link: Link, live: asyncio.Event, *, _rounds: int | None = None
) -> LinkFailed | None:
    """Samples and sends until the link breaks (LinkFailed raised by ``send``). The first round only
    primes the CPU counters; a round the daemon cannot serve (``live`` unset, a failed list) is skipped."""
    sampler = Sampler(totals)
    loop = asyncio.get_running_loop()
    due = loop.time()
    primed = False
    done = 0
    while _rounds is None or done < _rounds:
        await asyncio.sleep(max(0.0, due - loop.time()))
        due = max(due + link.stats_every, loop.time())  # a late round is not followed by a burst
        if not live.is_set():
            primed = False
            continue
        try:
            samples, running = await sample(daemon, timeout=link.stats_every * ROUND_SHARE)
        except DockerProblem as e:
            log.warning("stats: %s", e)
            primed = False
            continue
        stats = sampler.stats(samples, running=running)
        if primed:
            for message in split_stats(stats):
                await link.send(message)
            done += 1
        primed = True
    return None
