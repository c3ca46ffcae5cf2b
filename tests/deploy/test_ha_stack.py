"""deploy/stack.ha.yml on a real 3-manager swarm: two dashboard replicas share one watcher through the
stack's Redis. Drain the node of the replica that holds the lease: the other takes it over, and a page
open on it all along stays open, gapless within each model, and follows Docker.

Without Redis (two replicas, each with a watcher of its own) both say they lead: each asks Docker,
and a page switched from one to the other would apply patches of another model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.deploy.conftest import record
from tests.deploy.ha import HAStack, Relay
from tests.deploy.images import Images
from tests.deploy.stack import ADMIN
from tests.integration.swarmtruth import _difference, docker_reaches, running, truth
from tests.lab import Lab, Swarm
from tests.pagemodel import PageModel as Page

pytestmark = pytest.mark.deploy

TAKEOVER_WITHIN = 10.0  # the lease's TTL and a renewal (~4 s), the holder's stop, a margin for the lab


@pytest.fixture
def ha_stack(lab3: Lab, swarm3: Swarm, stack_images: Images) -> Iterator[HAStack]:
    s = HAStack(lab3, swarm3, stack_images)
    yield s
    s.remove()  # before swarm3's cleanup removes the secrets the stack holds


async def page_true(lab: Lab, page: Page, *, within: float) -> float:
    """The page's model equals Docker's listing within ``within`` seconds; returns how long it took."""
    t0 = time.monotonic()
    while True:
        docker = await asyncio.to_thread(truth, lab)
        if not page.loading and page.view() == docker:
            return time.monotonic() - t0
        if time.monotonic() - t0 > within:
            raise AssertionError(f"the page differs from Docker after {within}s:\n{_difference(docker, page.view())}")
        await asyncio.sleep(0.05)


@pytest.mark.asyncio(loop_scope="function")
async def test_it_keeps_pages_following_docker_when_the_lease_holders_node_is_drained(
    ha_stack: HAStack, lab3: Lab, swarm3: Swarm
) -> None:
    stack = ha_stack
    t0 = time.monotonic()
    await asyncio.to_thread(stack.deploy)
    replicas = await asyncio.to_thread(stack.wait_replicas, timeout=150)
    record(
        "HA stack deploy to two healthy replicas", t0, f"replicas n{replicas}, PostgreSQL and Redis n{stack.db_node}"
    )
    third = stack.db_node
    assert third is not None and third not in replicas
    # Redis's healthcheck passes (redis-cli with the password from the secret), and that password is
    # nowhere but in the secret: not in the environment, not on a command line
    assert await asyncio.to_thread(stack.wait_healthy, stack.service("redis"), timeout=30) == third
    assert await asyncio.to_thread(stack.redis_exposure) == []
    service = await asyncio.to_thread(swarm3.create_service, "ha", replicas=2)
    sid = await asyncio.to_thread(swarm3.service_id, service)

    # from node 1's namespace (the host has no route to the lab); node 1 itself may be drained below
    async with Relay.started(stack.env["NETNS_N1"]) as relay:
        # one sign-in serves both replicas: the session is in the shared database
        cookie = await relay.login(stack.base(replicas[0]), ADMIN, stack.password)

        async def leading(node: int) -> bool:
            return bool((await relay.get_json(stack.base(node), "/api/metrics", cookie))["leading"])

        # one watcher among the replicas: exactly one holds the lease (without Redis, both would lead)
        deadline = time.monotonic() + 30
        while (leads := [await leading(n) for n in replicas]).count(True) != 1:
            assert time.monotonic() < deadline, (
                f"not exactly one replica leads: {dict(zip(replicas, leads, strict=True))}"
            )
            await asyncio.sleep(0.5)
        holder, other = (replicas[0], replicas[1]) if leads[0] else (replicas[1], replicas[0])
        epoch = (await relay.get_json(stack.base(other), "/api/metrics", cookie))["epoch"]

        page = await relay.open_page(stack.base(other), cookie, "survivor")
        await page_true(lab3, page, within=20)
        assert page.snapshots == [epoch]

        t0 = time.monotonic()
        await asyncio.to_thread(swarm3.drain, f"swarm-n{holder}")
        while not await leading(other):
            assert time.monotonic() - t0 < TAKEOVER_WITHIN, f"n{other} did not take the lease within {TAKEOVER_WITHIN}s"
            await asyncio.sleep(0.2)
        took_over = time.monotonic() - t0
        record("HA lease takeover after draining the holder's node", t0, f"n{holder} -> n{other}")
        new_epoch = (await relay.get_json(stack.base(other), "/api/metrics", cookie))["epoch"]
        assert new_epoch > epoch

        # the drained replica comes back on the third manager, and does not lead
        moved = await asyncio.to_thread(stack.wait_replicas, timeout=150)
        assert moved == sorted([other, third]), moved
        assert not await leading(third)

        # the page on the survivor: its one fresh model at the epoch change, then patches, all gapless;
        # Docker's view of the moved replica settles by the reconcile at the latest
        await page_true(lab3, page, within=20)
        await asyncio.to_thread(swarm3.scale, service, 5)
        await docker_reaches(lab3, lambda d: running(d, sid) == 5, what="5 running")
        followed = await page_true(lab3, page, within=2.0)

        assert not page.closed, f"the page on the surviving replica closed: {page.closed}"
        assert page.snapshots == [epoch, new_epoch], "a leader change costs a page exactly one fresh model"
        assert not page.gaps and not page.foreign, (page.gaps, page.foreign)
        assert page.patches >= 1

        # the stack's node agents (a global service) speak to either replica; the model says, on
        # every replica, that every node but the drained one has one (Docker stops its agent too)
        async def agents(node: int) -> list[str]:
            nodes = (await relay.get_json(stack.base(node), "/api/snapshot", cookie))["nodes"]
            return sorted(n["hostname"] for n in nodes if n.get("agent"))

        every = [f"swarm-n{n}" for n in range(1, lab3.nodes + 1) if n != holder]
        deadline = time.monotonic() + 90
        while (seen := [await agents(n) for n in moved]) != [every, every]:
            assert time.monotonic() < deadline, f"not an agent on every undrained node: {seen}\n{stack.diagnosis()}"
            await asyncio.sleep(1)
        print(f"\nlease taken over {took_over:.1f}s after the drain; page true {followed:.2f}s after Docker")
