"""The token bucket that paces calls to the service (and that the emulator throttles with)."""

from __future__ import annotations

from backup_orchestrator.aws.pacing import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_burst_then_refill_at_the_rate() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=5, burst=10, monotonic=time.monotonic)

    assert sum(bucket.try_acquire() for _ in range(15)) == 10
    time.now += 1.0
    assert sum(bucket.try_acquire() for _ in range(15)) == 5


def test_acquire_waits_for_the_next_token() -> None:
    time = FakeTime()
    bucket = TokenBucket(rate=5, burst=1, monotonic=time.monotonic, sleep=time.sleep)

    for _ in range(6):
        bucket.acquire()

    assert abs(time.now - 1.0) < 1e-9
    assert all(abs(s - 0.2) < 1e-9 for s in time.slept)


def test_rate_zero_is_unlimited() -> None:
    bucket = TokenBucket(rate=0, burst=1)

    assert all(bucket.try_acquire() for _ in range(100))
    bucket.acquire()
