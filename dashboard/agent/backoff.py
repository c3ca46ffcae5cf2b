"""Capped exponential backoff with full jitter: a swarm's agents that all lost the dashboard at once
(a dashboard restart) come back spread over the window instead of in one burst."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable


class Backoff:
    """``next()`` is a random time in [0, min(cap, first * 2^n)] after the n-th failure in a row
    (``wait()`` sleeps it); ``reset()`` after a success that lasted starts again from ``first``."""

    def __init__(self, *, first: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random) -> None:
        self.first, self.cap, self._rand = first, cap, rand
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2.0 ** min(self.failures, 30))
        self.failures += 1
        # never quite zero: a dashboard that refuses at once must not be hammered in a tight loop
        return max(self.first / 10, ceiling * self._rand())

    async def wait(self) -> float:
        delay = self.next()
        await asyncio.sleep(delay)
        return delay

    def reset(self) -> None:
        self.failures = 0
