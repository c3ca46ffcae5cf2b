"""A token bucket: ``burst`` at once, then ``per_second`` for as long as it goes on.

Pure arithmetic over a clock the caller gives (the event loop's time), so that a test on a fake
clock (looptime) sees exactly when a token comes back.
"""

from __future__ import annotations

from collections.abc import Callable


class Bucket:
    def __init__(self, burst: int, per_second: float, clock: Callable[[], float]) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("a bucket needs a burst of at least 1 and a positive rate")
        self.burst = burst
        self.per_second = per_second
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now

    def take(self) -> bool:
        """Spend a token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def available(self) -> float:
        """Tokens there now."""
        self._refill()
        return self._tokens

    def wait(self) -> float:
        """Seconds until a token is there (0: now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.per_second
