"""The node agents' words through Redis, for processes that share one watcher (the lease holder).

An agent's socket may be held by any process; what it says must reach the one that runs the
watcher, promptly (an event is worth something only within a second). Layout, per swarm:
  …:agents   a list: [node id, socket, the message's text] (text null: the socket closed), pushed
             by the process that holds the socket, taken by the leader with BLPOP: it wakes at once
  …:pokes    a list: the dashboard's own re-list requests (Replicated.poke), taken the same way
  …:usage    a stream of UsageFrames the leader makes; every process reads it (XREAD BLOCK)
  …:health   a hash: task id -> [node id, health, the last check's output], written by the leader
             as agents report, read by any process's task panel
The leader parses every message again (dashboard.core.agents): Redis is shared infrastructure, and
an entry it cannot read is dropped with a log line, never half applied.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dashboard.core.agents import AgentProtocolError, parse_message
from dashboard.core.agents_store import TaskWord
from dashboard.core.agents_usage import UsageFrame
from dashboard.core.shared.lease import Keys
from dashboard.core.watch import Watcher

log = logging.getLogger(__name__)

KEPT = 10_000  # entries of a list a leader that is away does not take: the newest kept
TAKE_AT_ONCE = 500  # entries taken after one wake-up
USAGE_KEPT = 20  # frames in the usage stream: a process reads the newest
HEALTH_TTL_SECONDS = 3600  # the outputs of a leader that is gone do not stay for ever


class AgentRelay:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.agents_key = f"{keys.prefix}agents"
        self.pokes_key = f"{keys.prefix}pokes"
        self.usage_key = f"{keys.prefix}usage"
        self.health_key = f"{keys.prefix}health"

    async def push(self, key: str, text: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, text)
            pipe.ltrim(key, -KEPT, -1)
            await pipe.execute()

    async def send(self, node_id: str, conn: str, text: str | None) -> None:
        """An agent's message (None: its socket closed) for the leader, wherever it runs."""
        await self.push(self.agents_key, json.dumps([node_id, conn, text]))

    # --- the leader's side ------------------------------------------------------------------------

    async def take(self, watcher: Watcher, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for agents' words and pokes, and hand what came to the watcher."""
        first: Any = await self.redis.blpop([self.agents_key, self.pokes_key], timeout=timeout)
        if first is None:
            return
        key, raw = first
        self._apply(watcher, key, raw)
        for name in (self.agents_key, self.pokes_key):
            more: Any = await self.redis.lpop(name, TAKE_AT_ONCE)
            for item in more or []:
                self._apply(watcher, name.encode(), item)

    def _apply(self, watcher: Watcher, key: bytes | str, raw: bytes) -> None:
        name = key.decode() if isinstance(key, bytes) else key
        try:
            entry = json.loads(raw)
            if name == self.pokes_key:
                services = [str(s) for s in entry["services"]][:1000]
                watcher.poke(secrets=bool(entry["secrets"]), services=services)
                return
            node_id, conn, text = entry
            if not isinstance(node_id, str) or not isinstance(conn, str):
                raise ValueError("node and socket must be strings")
            if text is None:
                watcher.agent_gone(node_id, conn)
            else:
                watcher.agent_said(node_id, conn, parse_message(str(text)))
        except AgentProtocolError as e:
            log.warning("an agent's message passed on through Redis was dropped: %s", e)
        except (ValueError, KeyError, TypeError):
            log.warning("a malformed entry in %s was dropped", name)

    async def publish(self, frame: UsageFrame, outputs: dict[str, tuple[str, str, str] | None]) -> None:
        """A usage frame for every process, and the health outputs changed since the last one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(self.usage_key, {"data": json.dumps(frame.data())}, maxlen=USAGE_KEPT, approximate=True)
            written = {k: json.dumps(v) for k, v in outputs.items() if v is not None}
            gone = [k for k, v in outputs.items() if v is None]
            if written:
                pipe.hset(self.health_key, mapping=written)  # type: ignore[arg-type]  # redis-py's own stub
            if gone:
                pipe.hdel(self.health_key, *gone)
            pipe.expire(self.health_key, HEALTH_TTL_SECONDS)
            await pipe.execute()

    async def forget_outputs(self) -> None:
        """A new term: the outputs of the last leader's agents are not this one's."""
        await self.redis.delete(self.health_key)

    # --- every process ----------------------------------------------------------------------------

    async def word(self, task_id: str, node_id: str) -> TaskWord | None:
        raw: Any = await self.redis.hget(self.health_key, task_id)
        if raw is None:
            return None
        try:
            said_on, health, output = json.loads(raw)
        except (ValueError, TypeError):
            return None
        if said_on != node_id or not isinstance(health, str) or not isinstance(output, str):
            return None  # said by another node's agent: not a word on this task
        return TaskWord(service_id="", health=health, output=output)

    async def follow_usage(self, on_frame: Callable[[UsageFrame], Awaitable[None]], *, block: float = 5.0) -> None:
        """Every usage frame from now on, for ever; Redis away: try again."""
        last: bytes | str | None = None
        while True:
            try:
                if last is None:  # the newest entry's id, not "$": a frame between two reads is not lost
                    newest: Any = await self.redis.xrevrange(self.usage_key, count=1)
                    last = newest[0][0] if newest else "0-0"
                answer: Any = await self.redis.xread({self.usage_key: last}, count=USAGE_KEPT, block=int(block * 1000))
            except (RedisError, OSError) as e:
                log.warning("usage frames cannot be read: %s", e)
                await asyncio.sleep(1.0)
                continue
            for _stream, entries in answer or []:
                for entry_id, fields in entries:
                    last = entry_id
                    try:
                        frame = UsageFrame.from_data(json.loads(fields[b"data"]))
                    except (ValueError, KeyError) as e:
                        log.warning("a usage frame was dropped: %s", e)
                        continue
                    await on_frame(frame)
