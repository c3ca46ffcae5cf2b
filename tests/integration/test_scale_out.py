"""Several dashboard processes on one Redis, as users run them: real daphne processes, a real
redis-server, the real lab, websocket pages on each process.

Three processes: one holds the lease and alone asks Docker; every process serves the same model; each
page's patches follow each other; kill -9 the holder and another takes over within 5 s, every
surviving page true again within 2 s after, at the cost of one fresh model each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp
import pytest

from bench.harness.daphne import Dashboard
from tests.integration.swarmtruth import docker_reaches, running, truth
from tests.lab import Lab, Swarm
from tests.pagemodel import PageModel
from tests.redisd import RedisServer


class Page(PageModel):
    """A page on one dashboard process: what it holds (PageModel), read from its websocket."""

    def __init__(self, dash: Dashboard) -> None:
        super().__init__()
        self.dash = dash

    async def run(self, stop: asyncio.Event) -> None:
        url = self.dash.url.replace("http://", "ws://") + "/ws/swarm?heartbeat=1"
        headers = {"Cookie": self.dash.cookie, "Origin": self.dash.url}
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, headers=headers, max_msg_size=0) as ws:
                reader = asyncio.ensure_future(ws.receive())
                waiter = asyncio.ensure_future(stop.wait())
                try:
                    while True:
                        done, _ = await asyncio.wait([reader, waiter], return_when=asyncio.FIRST_COMPLETED)
                        if waiter in done:
                            return
                        msg = reader.result()
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            self.closed = f"{msg.type.name} {ws.close_code}"
                            return
                        self.frame(json.loads(msg.data))
                        reader = asyncio.ensure_future(ws.receive())
                finally:
                    reader.cancel()
                    waiter.cancel()


async def page_true(lab: Lab, page: Page, within: float = 2.0) -> None:
    t0 = time.monotonic()
    while True:
        docker = await asyncio.to_thread(truth, lab)
        if not page.loading and page.view() == docker:
            return
        if time.monotonic() - t0 > within:
            raise AssertionError(f"the page on {page.dash.url} differs from Docker after {within}s")
        await asyncio.sleep(0.05)


def metrics(dash: Dashboard) -> dict[str, Any]:
    return dict(dash.get_json("/api/metrics"))


@pytest.mark.asyncio(loop_scope="function")
async def test_processes_share_one_watcher_and_a_killed_holder_is_replaced(
    lab: Lab, swarm: Swarm, redis_server: RedisServer
) -> None:
    env = {"REDIS_URL": redis_server.url, "REDIS_NAMESPACE": f"t{time.monotonic_ns()}"}
    with contextlib.ExitStack() as processes:
        dashes = [processes.enter_context(Dashboard(lab.docker_host, env=env)) for _ in range(3)]
        pages = [Page(d) for d in dashes]
        stop = asyncio.Event()
        runs = [asyncio.create_task(p.run(stop)) for p in pages]
        try:
            for page in pages:
                await page_true(lab, page, within=20)
            leading = [metrics(d)["leading"] for d in dashes]
            assert sorted(leading) == [False, False, True], leading
            holder = dashes[leading.index(True)]
            others = [d for d in dashes if d is not holder]
            for other in others:  # Docker's load is one process's, however many there are
                assert not metrics(other)["docker_requests"], "a process without the lease asked Docker"

            name = await asyncio.to_thread(swarm.create_service, "scale", replicas=3)
            sid = await asyncio.to_thread(swarm.service_id, name)
            for replicas in (3, 6, 2):
                await asyncio.to_thread(swarm.scale, name, replicas)
                await docker_reaches(lab, lambda d, r=replicas: running(d, sid) == r, what=f"{replicas} running")
                for page in pages:
                    await page_true(lab, page)
            for page in pages:
                assert not page.gaps and not page.foreign, (page.gaps, page.foreign)
                assert len(page.snapshots) == 1 and page.patches >= 3
            for other in others:
                assert not metrics(other)["docker_requests"]

            # kill -9 the holder: no goodbye, its lease runs out
            survivors = [pages[dashes.index(other)] for other in others]
            before = [len(page.snapshots) for page in survivors]
            epoch = metrics(others[0])["epoch"]
            assert holder.proc is not None
            holder.proc.kill()
            died = time.monotonic()
            while not any(metrics(other)["leading"] for other in others):
                assert time.monotonic() - died < 5.0, "no process took the lease over within 5 s"
                await asyncio.sleep(0.05)
            took_over = time.monotonic() - died
            assert sum(metrics(other)["leading"] for other in others) == 1
            for page in survivors:
                await page_true(lab, page, within=2.0 + 2.0)  # its first model, then true within 2 s
            new_epoch = metrics(others[0])["epoch"]
            assert new_epoch > epoch and metrics(others[1])["epoch"] == new_epoch
            for page, had in zip(survivors, before, strict=True):
                assert len(page.snapshots) == had + 1, "a leader change costs a page one fresh model"
                assert page.epoch == new_epoch
                assert not page.gaps and not page.foreign and not page.closed

            await asyncio.to_thread(swarm.scale, name, 4)
            await docker_reaches(lab, lambda d: running(d, sid) == 4, what="4 running")
            for page in survivors:
                await page_true(lab, page)

            # a planned stop (SIGTERM: a drain, an update) gives the lease back: the last process
            # leads at once, not when the lease would have run out
            second = next(other for other in others if metrics(other)["leading"])
            last = next(other for other in others if other is not second)
            assert second.proc is not None
            second.proc.terminate()
            stopped = time.monotonic()
            while not metrics(last)["leading"]:
                assert time.monotonic() - stopped < 2.0, "a stopping holder kept its lease until it ran out"
                await asyncio.sleep(0.05)
            handed_over = time.monotonic() - stopped
            await page_true(lab, pages[dashes.index(last)], within=4.0)
            print(f"\ntakeover {took_over:.2f}s after kill -9, {handed_over:.2f}s after SIGTERM")
        finally:
            stop.set()
            await asyncio.gather(*runs, return_exceptions=True)
