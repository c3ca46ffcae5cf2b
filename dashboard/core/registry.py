"""The swarms a process watches: one entry per swarm, each with its watcher, a client for the views,
and the name of the group its patches go to; started lazily, supervised, stopped together.

Today the registry holds one swarm, configured from DOCKER_HOST. Several swarms (``SWARMS_FILE``,
pages under ``/s/<name>/``) and one watcher per swarm across processes (a lease) fit here: a swarm
is found by name, and whoever starts its watcher is the registry's business, not the views'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from dashboard.agent.messages import AgentMessage
from dashboard.core.agents_store import TaskWord
from dashboard.core.agents_usage import UsageFrame, UsageHistory
from dashboard.core.docker import DockerClient, DockerProblem, Endpoint
from dashboard.core.domain import Task
from dashboard.core.model import Patch, Snapshot
from dashboard.core.shared.lease import Keys, holder_id
from dashboard.core.shared.replicated import Replicated, SharedSettings
from dashboard.core.watch import Watcher, WatchSettings

log = logging.getLogger(__name__)

DEFAULT = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # safe in a URL and in a channel group's name
REQUEST_TIMEOUT = 10.0  # DockerClient's default bound on one request
TICK_SECONDS = 1.0
STALLED_AFTER_SECONDS = 30.0  # the event loop is called unresponsive when the ticker is this late

OnPatch = Callable[["Swarm", Snapshot, Patch], Awaitable[None]]
OnModel = Callable[["Swarm", int, Snapshot], Awaitable[None]]
OnResend = Callable[[str], Awaitable[None]]  # ask the node agent on this socket for a fresh inventory
OnUsage = Callable[["Swarm", UsageFrame], Awaitable[None]]
# what the views read: this process's own watcher, or its copy of the model a deployment shares
Model = Watcher | Replicated
REDIS_SOCKET_TIMEOUT = 15.0  # above a follower's blocking read (SharedSettings.block)


@dataclass(frozen=True, slots=True)
class Shared:
    """Processes of one deployment sharing Redis: one watcher per swarm among them (the lease holder)."""

    redis_url: str
    namespace: str = "sv"  # several deployments on one Redis keep apart by it
    settings: SharedSettings = field(default_factory=SharedSettings)


@dataclass(frozen=True, slots=True)
class SwarmConfig:
    name: str
    endpoint: Endpoint
    watch: WatchSettings
    read_only: bool = False  # no call that writes to Docker (DOCKER_READ_ONLY)
    problem: DockerProblem | None = None  # why the endpoint cannot be used (a malformed DOCKER_HOST)
    shared: Shared | None = None  # None: this process watches the swarm on its own


class Swarm:
    """One swarm: its watcher (started on first use and kept running), the views' client."""

    def __init__(
        self,
        config: SwarmConfig,
        on_patch: OnPatch | None = None,
        on_model: OnModel | None = None,
        on_usage: OnUsage | None = None,
        on_resend: OnResend | None = None,
    ) -> None:
        if not NAME.match(config.name):
            raise ValueError(f"swarm name {config.name!r}: lower-case letters, digits, - and _ only")
        self.config = config
        self.name = config.name
        # the default swarm keeps the group every socket used before there were several
        self.group = "swarm" if config.name == DEFAULT else f"swarm.{config.name}"
        self._task: asyncio.Task[None] | None = None
        self._client: DockerClient | None = None
        self._logs_client: DockerClient | None = None
        self._redis: Redis | None = None
        self.watcher: Model
        if config.shared is None:
            self.watcher = Watcher(self.new_client, config.watch)
        else:
            holder = holder_id()
            # each process fans its own copy of the model out to its own sockets: a group of its own
            self.group = f"{self.group}.{holder.rsplit(':', 1)[-1]}"
            self._redis = Redis.from_url(
                config.shared.redis_url, socket_timeout=REDIS_SOCKET_TIMEOUT, socket_connect_timeout=5.0
            )
            self.watcher = Replicated(
                self._redis,
                Keys.of(config.name, config.shared.namespace),
                holder,
                lambda: Watcher(self.new_client, config.watch),
                config.watch,
                config.shared.settings,
            )
            if on_model is not None:
                replicated = self.watcher

                async def reset(epoch: int, snapshot: Snapshot) -> None:
                    await on_model(self, epoch, snapshot)

                replicated.subscribe_model(reset)
        if on_patch is not None:

            async def relay(snapshot: Snapshot, patch: Patch) -> None:
                await on_patch(self, snapshot, patch)

            self.watcher.subscribe(relay)
        # every process keeps the last minutes of each task's resource use (the task panel's sparklines)
        self.usage = UsageHistory()

        async def remember(frame: UsageFrame) -> None:
            self.usage.add(frame)
            if on_usage is not None:
                await on_usage(self, frame)

        self.watcher.subscribe_usage(remember)
        if on_resend is not None:
            self.watcher.subscribe_resend(on_resend)

    # --- the node agents: their words go to the watcher, wherever it runs -------------------------

    async def agent_said(self, node_id: str, conn: str, message: AgentMessage, text: str) -> None:
        if isinstance(self.watcher, Watcher):
            self.watcher.agent_said(node_id, conn, message)
        else:
            await self.watcher.agent_said(node_id, conn, message, text)

    async def agent_gone(self, node_id: str, conn: str) -> None:
        if isinstance(self.watcher, Watcher):
            self.watcher.agent_gone(node_id, conn)
        else:
            await self.watcher.agent_gone(node_id, conn)

    async def agent_word(self, task: Task) -> TaskWord | None:
        """What the agent of the task's own node last said of it (health, the check's output)."""
        if isinstance(self.watcher, Watcher):
            return self.watcher.agent_word(task)
        return await self.watcher.agent_word(task)

    def new_client(self) -> DockerClient:
        if self.config.problem is not None:
            raise self.config.problem
        return DockerClient(self.config.endpoint, read_only=self.config.read_only)

    @property
    def client(self) -> DockerClient:
        """A client shared by the views of this swarm (task details, logs, secrets); the watcher keeps its own."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    @property
    def logs_client(self) -> DockerClient:
        """One client for every followed log stream of this swarm: each stream holds one of its pooled
        connections for as long as it is followed, apart from the views' client and the watcher's."""
        if self._logs_client is None:
            self._logs_client = self.new_client()
        return self._logs_client

    def client_requests(self) -> Counter[str]:
        return Counter(self._client.requests) if self._client is not None else Counter()

    def start(self) -> Model:
        """The watcher, its supervisor started if it is not running (from the serving event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                supervise(self.watcher, self.config.watch.backoff_max), name=f"swarm-watcher-{self.name}"
            )
        return self.watcher

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def first_sync(self, timeout: float) -> Model:
        """The watcher, after its first successful listing or ``timeout`` seconds, whichever comes first."""
        w = self.start()
        try:
            await w.wait_for(lambda s: s.status.state != "connecting", timeout)
        except TimeoutError:
            pass
        return w

    def stuck(self) -> tuple[bool, float]:
        """Has the watcher's loop not moved for much longer than all its bounded waits together?"""
        s = self.watcher.settings
        stalled = self.watcher.stalled_for()
        return stalled >= max(STALLED_AFTER_SECONDS, s.reconcile + s.backoff_max + 4 * REQUEST_TIMEOUT), stalled

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if isinstance(self.watcher, Replicated):  # another process may lead at once, not in a ttl
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.watcher.lease.release(), timeout=1.0)
        clients = (self._client, self._logs_client)
        self._client = self._logs_client = None
        for shared in clients:
            if shared is not None:
                await shared.close()
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose()


async def supervise(w: Model, backoff_max: float, *, _iterations: int | None = None) -> None:
    """Run the watcher for ever; if its loop dies (it handles Docker's failures itself, so this is
    a bug), publish that as an internal error and start it again after a growing pause."""
    backoff = 1.0
    runs = 0
    while _iterations is None or runs < _iterations:
        runs += 1
        try:
            await w.run()
            return
        except Exception as e:
            log.exception("the watcher stopped on an error; starting it again in %.0fs", backoff)
            await w.report_crash(e)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, backoff_max)


class Registry:
    """Every swarm of this process by name, and a ticker that proves the event loop turns."""

    def __init__(
        self,
        configs: Iterable[SwarmConfig],
        on_patch: OnPatch | None = None,
        on_model: OnModel | None = None,
        on_usage: OnUsage | None = None,
        on_resend: OnResend | None = None,
    ) -> None:
        self._swarms = {c.name: Swarm(c, on_patch, on_model, on_usage, on_resend) for c in configs}
        if not self._swarms:
            raise ValueError("no swarm configured")
        self._ticker: asyncio.Task[None] | None = None
        self.last_tick: float | None = None  # the event loop's time at the ticker's last turn

    @property
    def names(self) -> list[str]:
        return list(self._swarms)

    def get(self, name: str | None = None) -> Swarm:
        """The swarm of this name (the default one when there is a single swarm); KeyError if none."""
        swarm = (
            self._swarms[name] if name is not None else self._swarms.get(DEFAULT) or next(iter(self._swarms.values()))
        )
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="event-loop-ticker")
        swarm.start()
        return swarm

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.last_tick = loop.time()
            await asyncio.sleep(TICK_SECONDS)

    def liveness(self) -> tuple[bool, dict[str, object]]:
        """Is this process alive: its event loop turning, every watcher running (or being restarted)
        and moving? Docker's own state does not count (that is readiness, /healthz): a dashboard must
        stay up to say "Docker lost" rather than be killed and replaced for it."""
        self.get()  # the ticker, and the default swarm
        for swarm in self._swarms.values():
            swarm.start()  # what is not running yet
        loop = asyncio.get_running_loop()
        late = loop.time() - self.last_tick if self.last_tick is not None else 0.0
        alive = late < STALLED_AFTER_SECONDS
        body: dict[str, object] = {"event_loop_late_seconds": round(late, 3)}
        for swarm in self._swarms.values():
            stuck, stalled = swarm.stuck()
            alive = alive and swarm.running and not stuck
            figures: dict[str, object] = {
                "watcher": "running" if swarm.running else "stopped",
                "docker": swarm.watcher.snapshot.status.state,
                "watcher_stalled_seconds": round(stalled, 3),
            }
            if isinstance(swarm.watcher, Replicated):  # shared: which process asks Docker, in which epoch
                figures["lease"] = "held" if swarm.watcher.leader is not None else "elsewhere"
                figures["epoch"] = swarm.watcher.epoch
            body[swarm.name] = figures
        # the default swarm's figures at the top level too, as before there were several
        body.update(body[self.get().name])  # type: ignore[call-overload]
        body["status"] = "ok" if alive else "error"
        return alive, body

    async def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in self._swarms.values()))
