"""When a slot's busy servers are tried again, and the name of each try. (pure)

A scheduled run that finds a selected server busy (backing up for somebody else, in maintenance,
being modified, restored or created) schedules its own next try (run/next_try.py, through
aws/scheduler.py), every RETRY_EVERY from the slot, until the slot's retry window closes. A retry
is a run of the same slot (same run id, so at most one backup per server per slot still holds),
limited to those servers. Its last try is at the window's end: a server still busy then is
missed, and says so.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

RETRY_EVERY = timedelta(minutes=15)
# A one-time schedule must fire in the future; a try due already fires this long from now.
SOONEST = timedelta(minutes=1)


def tries_in(window: timedelta) -> int:
    """How many later tries a retry window holds (the last at its end)."""
    return math.ceil(window / RETRY_EVERY)


def try_time(slot: datetime, attempt: int, window: timedelta, now: datetime) -> datetime:
    """When try `attempt` (from 1) of the slot fires: every RETRY_EVERY from the slot, the last
    at the window's end, and never before a minute from `now`."""
    due = min(slot + attempt * RETRY_EVERY, slot + window)
    return max(due, now + SOONEST).replace(microsecond=0)


def schedule_name(prefix: str, run_id: str, attempt: int) -> str:
    """Schedule names: at most 64 of [0-9a-zA-Z-_.]; the same for a run's same try, so a
    retried run cannot schedule it twice."""
    return f"{prefix}-{run_id}-{attempt}"[:64]
