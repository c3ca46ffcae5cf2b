"""What a viewer sees is Docker's truth, and costs Docker nothing, on the real lab."""

from __future__ import annotations

import asyncio

from dashboard.core.docker import DockerClient, Endpoint
from dashboard.core.model import Patch, Snapshot
from dashboard.core.watch import WatchSettings
from tests.integration.swarmtruth import docker_reaches, model_matches, running, service_tasks
from tests.integration.test_watcher import watching
from tests.lab import Lab, Swarm

# a task that ignores SIGTERM stays in Docker's /tasks for its whole grace period after its service
# is removed; a reconcile every second is sure to list it meanwhile
STUBBORN = ("sh", "-c", "trap '' TERM; while true; do sleep 1; done")


async def test_it_never_shows_a_removed_services_tasks_again(lab: Lab, swarm: Swarm) -> None:
    settings = WatchSettings(reconcile=1.0, full_every=3, backoff_initial=0.1, backoff_max=0.5)
    async with watching(lab.docker_host, settings) as watcher:
        name = await asyncio.to_thread(
            swarm.create_service, "stubborn", replicas=3, command=STUBBORN, extra=("--stop-grace-period", "6s")
        )
        sid = await asyncio.to_thread(swarm.service_id, name)
        await docker_reaches(lab, lambda d: running(d, sid) == 3, what="3 running")
        await model_matches(lab, watcher)
        published: list[Snapshot] = []

        async def record(snapshot: Snapshot, patch: Patch) -> None:
            published.append(snapshot)

        watcher.subscribe(record)
        await asyncio.to_thread(swarm.remove_service, name)
        await watcher.wait_for(lambda s: sid not in s.services, 2)
        removed_at = len(published)
        lingering = lab.api("/tasks")
        assert [t for t in lingering if t["ServiceID"] == sid], "Docker dropped the tasks at once: nothing tested"
        await docker_reaches(lab, lambda d: not [t for t in lab.api("/tasks") if t["ServiceID"] == sid], timeout=40)
    ghosts = {t.id for s in published[removed_at - 1 :] for t in s.tasks.values() if t.service_id == sid}
    assert not ghosts, f"the removed service's tasks came back after it was gone: {sorted(ghosts)}"


async def test_a_task_panel_costs_docker_no_listing(lab: Lab, swarm: Swarm) -> None:
    async with watching(lab.docker_host) as watcher:
        name = await asyncio.to_thread(swarm.create_service, "panel", replicas=2)
        sid = await asyncio.to_thread(swarm.service_id, name)
        await docker_reaches(lab, lambda d: running(d, sid) == 2)
        await model_matches(lab, watcher)
        task_id = next(t.id for t in watcher.snapshot.tasks.values() if t.service_id == sid)
        async with DockerClient(Endpoint(host=lab.docker_host)) as client:
            for _ in range(5):  # five viewers open the same panel
                detail, _ = await client.task_detail(
                    task_id,
                    service_tasks=lambda s: [t for t in watcher.snapshot.tasks.values() if t.service_id == s],
                )
            assert detail.task.id == task_id and detail.history == ()  # the first task of its slot
            assert client.requests["GET /tasks"] == 0, dict(client.requests)
        await docker_reaches(lab, lambda d: len(service_tasks(d, sid)) == 2)
