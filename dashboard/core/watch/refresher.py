"""The refresher: re-lists what the hints name (a burst coalesced), follows a service's tasks until
they settle, and reconciles /tasks periodically (nodes, services, secrets and configs every Nth
time) to catch what no event says - pending and rejected tasks, tasks failing on workers."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable

from dashboard.core.docker import DockerAPIError, DockerClient
from dashboard.core.domain import Task
from dashboard.core.model import Status
from dashboard.core.watch.base import TIMER_SLACK, Dirty, WatchState, clock, now_iso, settled

# re-list a service this often while an agent's word that one of its containers ended waits for the
# manager's (a worker tells its manager ~0.2 s after its daemon knows)
AWAIT_INTERVAL = 0.1
REQUEST_TIMEOUT = 10.0  # a ping's bound, as any request's


class Refresher(WatchState):
    async def _refresher(self, client: DockerClient) -> None:
        s = self.settings
        last_reconcile = clock()
        reconciles = 0
        while True:
            # relaxed while agents cover every ready node, and back the moment one goes (its wake)
            period = self._reconcile_period()
            next_reconcile = last_reconcile + period
            # relaxed, the reconcile no longer proves Docker alive as often as pages count on
            # (docker_every: the reconcile's period): a ping does, for nothing
            heard = client.last_ok if client.last_ok is not None else last_reconcile
            next_ping = heard + s.reconcile if period > s.reconcile else math.inf
            now = clock()
            wake_at = min([next_reconcile, next_ping, *(at for _, at, _, _ in self._settling.values())])
            if not self._wake.is_set() and wake_at > now:
                try:
                    async with asyncio.timeout(wake_at - now):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            if self._wake.is_set():
                await asyncio.sleep(s.coalesce)  # let the rest of a burst arrive: one re-list for all of it
                self._wake.clear()
            # a timer may fire a hair before its time (clock resolution): count that as due, or
            # the loop would spin on it
            now = clock() + TIMER_SLACK
            dirty, self._dirty = self._dirty, Dirty()
            dirty.service_tasks |= {sid for sid, (_, at, _, _) in self._settling.items() if at <= now}
            hints_before = self._hints
            self.progress_at = clock()
            if now >= next_reconcile:
                reconciles += 1
                full = dirty.everything or reconciles % s.full_every == 0
                await self._reconcile(client, full=full, dirty=dirty)
                last_reconcile = clock()
            elif dirty.everything:
                await self._list_everything(client)
            elif dirty:
                await self._targeted(client, dirty)
            elif now >= next_ping:
                await client.ping(timeout=min(REQUEST_TIMEOUT, s.liveness / 4))
                continue
            self._follow_settling(dirty.service_tasks, hints_before)
            await self._publish()

    def _follow_settling(self, relisted: set[str], hints_before: int) -> None:
        """After a re-list: each service followed is settled (done), or re-listed again later. A hint
        that came while the listing was in flight is judged by the next listing, not this older one."""
        now = clock()
        for service_id in relisted & set(self._settling):
            deadline, _, interval, hint = self._settling[service_id]
            if hint > hints_before:
                continue
            tasks = self._tasks.of_service(service_id)
            # an agent said a container of it ended: its node's daemon knows before any manager does
            awaited = self._awaited(service_id)
            # no task yet is not settled: a new service's first tasks are on their way
            if now >= deadline or service_id not in self._services or (tasks and settled(tasks) and not awaited):
                del self._settling[service_id]
                continue
            interval = min(max(interval * 2, self.settings.settle_first), self.settings.settle_max_interval)
            if awaited:
                interval = AWAIT_INTERVAL
            self._settling[service_id] = (deadline, now + interval, interval, hint)

    # --- listing ----------------------------------------------------------------------------------

    async def _full_sync(self, client: DockerClient) -> None:
        await client.check_manager()
        await self._list_everything(client)
        self.syncs += 1
        self._status = Status(state="live", since=now_iso())
        await self._publish()

    async def _list_everything(self, client: DockerClient) -> None:
        """Nodes, services, tasks, secrets and configs, listed together: whatever any hint asked for
        is covered. Secrets and configs are cheap, so the full reconcile re-lists them too (the
        safety net for an event that never came, the dashboard's own writes included)."""
        nodes, services, tasks, secrets, configs = await asyncio.gather(
            client.nodes(), client.services(), client.tasks(), client.secrets(), client.configs()
        )
        self._secrets = {x.id: x for x in secrets}
        self._configs = {x.id: x for x in configs}
        self._nodes = {n.id: n for n in nodes}
        self._services = {s.id: s for s in services}
        self._tasks.replace_all(self._of_known_services(tasks))

    def _of_known_services(self, tasks: Iterable[Task]) -> list[Task]:
        """A removed service's tasks stay in Docker's /tasks for a while (shutting down, then
        deleted by the orchestrator); the model drops them with the service, at once and for good,
        instead of showing them as nameless ghosts whenever a listing happens to catch them."""
        return [t for t in tasks if t.service_id in self._services]

    async def _reconcile(self, client: DockerClient, *, full: bool, dirty: Dirty) -> None:
        if full:
            await self._list_everything(client)
            return
        # the services, nodes, secrets and configs events asked for still need their own re-list
        await self._targeted(
            client,
            Dirty(
                services=dirty.services,
                removed_services=dirty.removed_services,
                nodes=dirty.nodes,
                secrets=dirty.secrets,
                configs=dirty.configs,
            ),
        )
        self._tasks.replace_all(self._of_known_services(await client.tasks()))

    async def _targeted(self, client: DockerClient, dirty: Dirty) -> None:
        for service_id in dirty.removed_services:
            self._services.pop(service_id, None)
        if dirty.removed_services:
            self._tasks.replace(services=dirty.removed_services, fresh=())
        dirty.services -= dirty.removed_services
        try:
            services, nodes, by_node, secrets, configs = await asyncio.gather(
                client.services(ids=tuple(sorted(dirty.services))) if dirty.services else _none(),
                client.nodes() if dirty.nodes else _none(),
                client.tasks(node_ids=tuple(sorted(dirty.node_tasks))) if dirty.node_tasks else _none(),
                client.secrets() if dirty.secrets else _none(),
                client.configs() if dirty.configs else _none(),
            )
            if secrets is not None:
                self._secrets = {x.id: x for x in secrets}
            if configs is not None:
                self._configs = {x.id: x for x in configs}
            if services is not None:
                for service_id in dirty.services:
                    self._services.pop(service_id, None)
                self._services.update((s.id, s) for s in services)
                gone = dirty.services - {s.id for s in services}
                if gone:  # removed, its event not yet read: its tasks go with it
                    self._tasks.replace(services=gone, fresh=())
            if nodes is not None:
                self._nodes = {n.id: n for n in nodes}
            if by_node is not None:
                self._tasks.replace(nodes=dirty.node_tasks, fresh=self._of_known_services(by_node))
            # the services' own tasks come last, once the services are known (a new one's first
            # tasks included): where a node's listing and a service's overlap, the later answer is
            # applied last - two answers in flight at once could land in either order
            service_tasks = tuple(sorted((dirty.service_tasks - dirty.removed_services) & set(self._services)))
            if service_tasks:
                by_service = await client.tasks(service_ids=service_tasks)
                self._tasks.replace(services=service_tasks, fresh=self._of_known_services(by_service))
        except DockerAPIError as e:
            if e.status != 404:
                raise
            # a service or node went away between the event and the re-list: list everything,
            # which covers every kind this re-list was asked for
            await self._list_everything(client)

    # --- publishing -------------------------------------------------------------------------------


async def _none() -> None:
    return None
