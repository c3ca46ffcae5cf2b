"""Fixtures of the integration tests that need more than the lab: a client of the suite's redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
import redis.asyncio as aioredis

from tests.redisd import RedisServer


@pytest_asyncio.fixture(loop_scope="function")
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the suite's redis-server, emptied first."""
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()
