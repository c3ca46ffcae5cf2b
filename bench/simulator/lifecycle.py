"""How tasks live: created in a slot, placed, walked to running one state per step, shut down, replaced,
and how a rolling update completes; plus the churn that fails running tasks at random."""

from __future__ import annotations

import asyncio
import functools

from bench.simulator.docs import task_spec
from bench.simulator.model import FINAL_STATES, LAUNCH_STATES, MESSAGES, Node, Service, Task, rfc3339
from bench.simulator.state import SwarmState


def fits(node: Node, constraints: list[str]) -> bool:
    """Placement constraints on what a node has here: node.id, node.hostname, node.role, node.labels.*,
    node.platform.os and node.platform.arch, with == or != (a label the node lacks is != anything)."""
    attributes = {
        "node.id": node.id,
        "node.hostname": node.hostname,
        "node.role": node.role,
        "node.platform.os": "linux",
        "node.platform.arch": "x86_64",
        **{f"node.labels.{k}": v for k, v in node.labels.items()},
    }
    for constraint in constraints:
        equal = "==" in constraint
        key, _, value = (part.strip() for part in constraint.partition("==" if equal else "!="))
        if (attributes.get(key) == value) != equal:
            return False
    return True


class Lifecycle(SwarmState):
    churn: float
    _churn_task: asyncio.Task[None] | None

    def _create_task(
        self, service: Service, slot: int | None, node_id: str, *, prefer: str = "", launched: bool = False
    ) -> Task:
        now = self._now()
        task = Task(
            id=self._ids.swarm(),
            index=self._next_index(),
            service_id=service.id,
            slot=slot,
            spec=service.task_spec,
            created_ns=now,
            updated_ns=now,
            status_ns=now,
            node_id=node_id,
            preferred_node=prefer or node_id,
            ports=service.ports,
            service_name=service.name,
        )
        self._index_task(task)
        if launched:
            self._run_at_once(task, service)
        else:
            self._later(lambda: self._advance(task.id))
        self._trim_slot(task.slot_key)
        return task

    def _run_at_once(self, task: Task, service: Service) -> None:
        """Initial tasks: already running when the simulator starts, with no events for their past."""
        task.created_ns = service.created_ns + self._rng.randrange(100_000, 50_000_000)
        task.status_ns = task.created_ns + self._rng.randrange(500_000_000, 3_000_000_000)
        task.updated_ns = task.status_ns + self._rng.randrange(100_000, 90_000_000)
        if not self._place(task):
            task.state, task.message = "pending", MESSAGES["pending"]
            return
        task.state, task.message = "running", MESSAGES["running"]
        task.container_id, task.pid = self._ids.container(), self._rng.randrange(1000, 4_000_000)
        task.started_ns = task.status_ns
        self._runnable.append(task.id)

    def _advance(self, task_id: str) -> None:
        task = self._tasks.get(task_id)
        if task is None or not task.is_current or task.state not in LAUNCH_STATES[:-1]:
            return
        following = LAUNCH_STATES[LAUNCH_STATES.index(task.state) + 1]
        if following == "assigned" and not self._place(task):
            return  # stays pending until a node becomes usable (see _fill_node)
        self._set_state(task, following)
        if following != "running":
            self._later(lambda: self._advance(task_id))

    def _place(self, task: Task) -> bool:
        constraints = list(task.spec.get("Placement", {}).get("Constraints") or [])
        node = self._nodes.get(task.node_id or task.preferred_node)
        if node is None or not node.usable or not fits(node, constraints):
            if task.slot is None:
                return False  # a global task belongs to its node
            node = self._next_usable_node(constraints)
        if node is None:
            refused = sum(1 for n in self._nodes.values() if n.usable and not fits(n, constraints))
            if refused:  # swarmkit's scheduler says why in Status.Err
                where = "1 node" if refused == 1 else f"{refused} nodes"
                self._set_err(task, f"no suitable node (scheduling constraints not satisfied on {where})")
            return False
        self._set_err(task, "")
        self._move(task, node.id)
        return True

    def _set_err(self, task: Task, err: str) -> None:
        if task.err != err:
            task.err = err
            self._touch(task)

    def _next_usable_node(self, constraints: list[str]) -> Node | None:
        nodes = list(self._nodes.values())
        for step in range(len(nodes)):
            node = nodes[(self._cursor + step) % len(nodes)]
            if node.usable and fits(node, constraints):
                self._cursor = (self._cursor + step + 1) % len(nodes)
                return node
        return None

    def _move(self, task: Task, node_id: str) -> None:
        if task.node_id:
            self._by_node[task.node_id].discard(task.id)
        task.node_id = node_id
        self._by_node[node_id].add(task.id)

    def _set_state(self, task: Task, state: str) -> None:
        task.state, task.message, task.status_ns = state, MESSAGES.get(state, task.message), self._now()
        if state == "starting":
            task.container_id = self._ids.container()
            self._container_event(task, "create")
        elif state == "running":
            task.pid, task.started_ns = self._rng.randrange(1000, 4_000_000), task.status_ns
            self._container_event(task, "start")
            self._runnable.append(task.id)
            self._first_health_check(task)
        self._touch(task)
        if state == "running":
            self._complete_update_if_done(self._services.get(task.service_id))

    def _first_health_check(self, task: Task) -> None:
        """Docker reports health_status once the first check has run, one interval after the start."""
        check = task.spec["ContainerSpec"].get("Healthcheck")
        if check is None or self._loop is None or task.node_id != self.local_node_id:
            return
        interval = int(check.get("Interval") or 30_000_000_000) / 1e9

        def report() -> None:
            if self._tasks.get(task.id) is task and task.state == "running":
                self._container_event(task, f"health_status: {task.health or 'healthy'}")

        handle = self._loop.call_later(interval, report)
        self._timers.add(handle)

    def _shut_down(self, task: Task, *, desired: str = "shutdown") -> None:
        """Ask a task to stop; its node reports it shut down one step later (never, while it is down)."""
        task.desired_state = desired
        self._touch(task)
        self._later(lambda: self._stopped(task.id))

    def _stopped(self, task_id: str) -> None:
        task = self._tasks.get(task_id)
        if task is None or task.is_current:
            return
        node = self._nodes.get(task.node_id)
        if node is not None and node.state != "ready":
            return  # nobody reports for a node that is down; it says so when it is back
        if task.state not in FINAL_STATES:
            if task.container_id and task.state == "running":
                self._container_event(task, "kill", signal="15")
                self._container_event(task, "die", exitCode="143")
                self._container_event(task, "stop")
                task.pid, task.exit_code = 0, 143
            task.state, task.message, task.status_ns = "shutdown", MESSAGES["shutdown"], self._now()
            self._touch(task)
        if task.desired_state == "remove":
            self._delete_task(task)
            self._drop_finished_slot(task.slot_key)

    def _drop_finished_slot(self, key: tuple[str, int | str]) -> None:
        """A slot that no longer runs anything loses its history too, as swarm's task reaper does."""
        tasks = [self._tasks[i] for i in self._slots.get(key, ())]
        if not any(t.is_current for t in tasks):
            for task in tasks:
                if task.state in FINAL_STATES:
                    self._delete_task(task)

    def _evacuate(self, node: Node, *, stop_containers: bool) -> None:
        for task in [t for t in self.tasks_on(node.id) if t.is_current]:
            if stop_containers:
                self._shut_down(task)
            else:
                task.desired_state = "shutdown"
                self._touch(task)
            service = self._services.get(task.service_id)
            if service is not None and not service.is_global:
                self._create_task(service, task.slot, "")

    def _settle_returned_node(self, node: Node) -> None:
        for task in self.tasks_on(node.id):
            if not task.is_current:
                self._later(functools.partial(self._stopped, task.id))
        if node.usable:
            self._fill_node(node)

    def _fill_node(self, node: Node) -> None:
        """Global services run a task on every usable node; pending tasks may fit now."""
        for service in self._services.values():
            if (
                service.is_global
                and fits(node, list(service.task_spec.get("Placement", {}).get("Constraints") or []))
                and not any(t.is_current for t in self.tasks_on(node.id) if t.service_id == service.id)
            ):
                self._create_task(service, None, node.id)
        for task in list(self._tasks.values()):
            if task.state == "pending" and task.is_current:
                self._later(functools.partial(self._advance, task.id))

    # --- scaling and rolling updates ---------------------------------------------------------------

    def _scale_tasks(self, service: Service, replicas: int) -> None:
        """New slots start, the highest slots are removed."""
        current = sorted((t for t in self.tasks_of(service.id) if t.is_current), key=lambda t: t.slot or 0)
        for task in current[replicas:]:
            self._shut_down(task, desired="remove")
        taken = {t.slot for t in current[:replicas]}
        free = (slot for slot in range(1, replicas + len(taken) + 1) if slot not in taken)
        for _ in range(replicas - len(taken)):
            self._create_task(service, next(free), "")

    def _start_rollout(self, service_id: str) -> None:
        """The updater takes over: UpdateStatus "updating", then every current task is replaced in its slot."""
        service = self._services.get(service_id)
        if service is None:
            return
        service.task_spec = task_spec(service.spec)
        # the spec change reset UpdateStatus (swarmkit's controlapi), so there is no old state to report
        service.update_status = {
            "State": "updating",
            "StartedAt": rfc3339(self._now()),
            "Message": "update in progress",
        }
        self._touch_service(service)
        self._emit("service", "update", service.id, {"name": service.name, "updatestate.new": "updating"})
        for task in [t for t in self.tasks_of(service.id) if t.is_current]:
            self._shut_down(task)
            self._create_task(service, task.slot, task.node_id if service.is_global else "", prefer=task.node_id)
        self._complete_update_if_done(service)

    def _complete_update_if_done(self, service: Service | None) -> None:
        if service is None or not service.update_status or service.update_status["State"] != "updating":
            return
        current = [t for t in self.tasks_of(service.id) if t.is_current]
        if any(t.state != "running" or t.spec is not service.task_spec for t in current):
            return
        service.update_status = {  # swarm.UpdateStatus's order
            "State": "completed",
            "StartedAt": service.update_status["StartedAt"],
            "CompletedAt": rfc3339(self._now()),
            "Message": "update completed",
        }
        self._touch_service(service)
        attributes = {"name": service.name, "updatestate.new": "completed", "updatestate.old": "updating"}
        self._emit("service", "update", service.id, attributes)

    # --- churn ---------------------------------------------------------------------------------

    def _restart_churn(self) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
            self._churn_task = None
        if self.churn > 0:
            self._churn_task = asyncio.get_running_loop().create_task(self._churn_loop(self.churn), name="sim-churn")

    async def _churn_loop(self, rate: float) -> None:
        """Failures at ``rate`` per second on average, at most 1000 per tick so a stall cannot snowball."""
        loop = asyncio.get_running_loop()
        started, done = loop.time(), 0
        while True:
            due = int((loop.time() - started) * rate)
            for _ in range(min(due - done, 1000)):
                task = self._pick_running()
                if task is not None:
                    self.fail_task(task.id, exit_code=1)
            done = due
            await asyncio.sleep(max(1 / rate, 0.01))

    def _pick_running(self) -> Task | None:
        for _ in range(32):
            if not self._runnable:
                return None
            position = self._rng.randrange(len(self._runnable))
            task = self._tasks.get(self._runnable[position])
            if task is None or task.state != "running" or task.desired_state != "running":
                self._runnable[position] = self._runnable[-1]
                self._runnable.pop()
                continue
            if self._nodes[task.node_id].state == "ready":
                return task
        return None

    def fail_task(self, task_id: str, *, exit_code: int = 1) -> str:
        """The task's container exits with ``exit_code``; returns the ID of its replacement."""
        task = self.find_task(task_id)
        if task.state != "running" or task.desired_state != "running":
            raise ValueError(f"task {task.id} is {task.state} (desired {task.desired_state}), not running")
        task.state, task.err = "failed", f"task: non-zero exit ({exit_code})"
        task.pid, task.exit_code, task.status_ns = 0, exit_code, self._now()
        task.desired_state = "shutdown"
        self._touch(task)
        self._container_event(task, "die", exitCode=str(exit_code))
        service = self._services[task.service_id]
        node = task.node_id if service.is_global else ""
        return self._create_task(service, task.slot, node, prefer=task.node_id).id
