"""GET /events, followed with our own loop: aiodocker's helper cannot survive a dropped stream (it
ends with None to subscribers and an uncaught ClientPayloadError, after which subscribe() silently
does nothing), and a frozen connection must be noticed (no read timeout of its own)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiodocker
import aiohttp

from dashboard.core.docker.errors import DaemonUnreachable, DockerAPIError
from dashboard.core.docker.transport import Transport
from dashboard.core.domain import JSON, as_dict


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of /events, reduced to what the watcher needs as a hint."""

    type: str  # "service", "node", "container", "secret", "config", ...
    action: str
    actor_id: str
    attributes: tuple[tuple[str, str], ...]
    time_nano: int

    def attr(self, key: str) -> str:
        return dict(self.attributes).get(key, "")


def parse_event(raw: JSON) -> Event:
    actor = as_dict(raw.get("Actor"))
    attrs = as_dict(actor.get("Attributes"))
    time_nano = raw.get("timeNano")
    if not isinstance(time_nano, int):
        time_nano = int(raw.get("time", 0) or 0) * 1_000_000_000
    return Event(
        type=str(raw.get("Type", "")),
        action=str(raw.get("Action", raw.get("status", ""))),
        actor_id=str(actor.get("ID", "")),
        attributes=tuple(sorted((str(k), str(v)) for k, v in attrs.items())),
        time_nano=time_nano,
    )


class Events(Transport):
    async def events(
        self,
        *,
        since: int | None,
        liveness: float,
        opened: asyncio.Event | None = None,
        filters: dict[str, list[str]] | None = None,
    ) -> AsyncIterator[Event | None]:
        """Follow GET /events from ``since`` (seconds; inclusive, so callers de-duplicate).

        Docker sends nothing while nothing happens, and a frozen connection never errors: after
        every ``liveness`` seconds of silence this yields None, and the caller decides whether the
        silence needs a proof of life (see dashboard.core.watch.follower). ``opened`` is set once
        Docker has accepted the request: events from then on will arrive. ``filters`` are Docker's
        event filters (type, event, label...); by default every type the watcher hints from.
        """
        wanted = filters or {"type": ["service", "node", "container", "secret", "config"]}
        params: dict[str, Any] = {"filters": json.dumps(wanted)}
        if since is not None:
            params["since"] = str(since)
        self.requests["GET /events"] += 1
        try:
            async with asyncio.timeout(self.request_timeout):
                docker = await self._api()
                cm = docker._query("events", params=params, timeout=aiohttp.ClientTimeout(total=None))
                response = await cm.__aenter__()
        except TimeoutError:
            raise DaemonUnreachable(f"Docker at {self.endpoint.describe()} did not open /events") from None
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise self._classify(e, "events") from None
        self._answered()
        if opened is not None:
            opened.set()
        try:
            while True:
                try:
                    async with asyncio.timeout(liveness):
                        line = await response.content.readline()
                except TimeoutError:
                    yield None  # silence: the caller decides whether the daemon must prove it is alive
                    continue
                except ValueError as e:  # aiohttp: a line over its buffer (a container with huge labels)
                    raise DockerAPIError(
                        200, f"an /events line too long to read ({e}); listing everything again"
                    ) from None
                if not line:
                    raise DaemonUnreachable(f"Docker at {self.endpoint.describe()} closed the /events stream")
                self._answered()
                line = line.strip()
                if not line:
                    continue
                try:
                    raw = json.loads(line)
                except ValueError:
                    continue  # a torn line from a dying connection; the resync after reconnect covers it
                if isinstance(raw, dict):
                    yield parse_event(raw)
        except (aiohttp.ClientError, OSError) as e:
            raise self._classify(e, "events") from None
        finally:
            await cm.__aexit__(None, None, None)
