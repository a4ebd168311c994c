"""The service's token bucket replayed over a run's calls: on the times the bench recorded, and
in the deployed case, where each poll starts on a full bucket and the function paces its calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backup_orchestrator.aws.clients import SERVICE_BURST, SERVICE_RATE
from backup_orchestrator.aws.pacing import TokenBucket
from local.emulator import Call

# The service's request rate: 5 requests per second, burst 10.
RATE, BURST = SERVICE_RATE, SERVICE_BURST


def refused(stamps: Sequence[float]) -> list[bool]:
    """Which calls, at these times (seconds, in order), a RATE/BURST token bucket would refuse:
    the TokenBucket class the function paces with and the emulator throttles with, driven by the
    given times instead of the clock. A refused call takes no token (its retry would be another
    call, which is not added)."""
    if not stamps:
        return []
    now = [stamps[0]]
    bucket = TokenBucket(RATE, BURST, monotonic=lambda: now[0])
    out = []
    for at in stamps:
        now[0] = at
        out.append(not bucket.try_acquire())
    return out


def paced_times(start: float, calls: int) -> tuple[list[float], float]:
    """When a poll that starts at `start` makes `calls` calls as fast as the function's pacer
    (a RATE/BURST TokenBucket, new and full at each invocation) lets it, and when it is done."""
    now = [start]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = TokenBucket(RATE, BURST, monotonic=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(calls):
        pacer.acquire()
        times.append(now[0])
    return times, now[0]


def deployed_throttling(
    rounds: Mapping[str, list[list[Call]]], first_waits: Mapping[str, int], poll_seconds: int
) -> list[int]:
    """Throttled first attempts per poll round in the deployed case: each execution's k-th poll
    starts its first wait plus k-1 waits of `poll_seconds` (and the polls before) after the
    hand-over, its calls go out as the function's pacer releases them, and the account's bucket
    (full at the start) sees every execution's calls."""
    stamps: list[tuple[float, int]] = []
    for name, polls in rounds.items():
        start = float(first_waits[name])
        for number, calls in enumerate(polls):
            times, done = paced_times(start, len(calls))
            stamps += [(t, number) for t in times]
            start = done + poll_seconds
    stamps.sort()
    out = [0] * max((len(p) for p in rounds.values()), default=0)
    for (_, number), no in zip(stamps, refused([t for t, _ in stamps]), strict=True):
        out[number] += no
    return out
