"""A token bucket: requests per second with a burst, shared by every thread that uses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Refills are floating point: a token that is 1 - 1e-15 is a whole token, or a waiter could
# sleep for durations too small to move the clock and never get it.
_WHOLE = 1 - 1e-9


class TokenBucket:
    """`rate` tokens per second up to `burst`; rate 0 means unlimited."""

    def __init__(
        self,
        rate: float,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        """Take a token if one is there; never waits."""
        if self.rate <= 0:
            return True
        with self._lock:
            self._refill()
            if self._tokens >= _WHOLE:
                self._tokens = max(0.0, self._tokens - 1)
                return True
            return False

    def acquire(self) -> None:
        """Take a token, waiting as long as needed for one."""
        if self.rate <= 0:
            return
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= _WHOLE:
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
