"""The backups a run hands over: one new backup per server, its deferred deletions, how long it
takes and whether it fails, drawn from the baseline's seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.emulator.records import backup_id_for

# The baseline's seed and fleet: the same seed draws the same backups, failures and deletions.
SEED = 20260105
# A backup takes this many poll intervals (uniform, seeded): "a few".
BACKUP_INTERVALS = (2.0, 4.0)
# About this share of each run's backups fail (at least one), so an alert is due.
FAIL_SHARE = 0.02
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Planted:
    """One server's new backup as handed over, and how it will end."""

    server: str
    backup_id: str
    deferred: list[str]
    seconds: float
    fails: bool

    @property
    def ends(self) -> datetime:
        return START + timedelta(seconds=self.seconds)

    def handed(self) -> dict[str, Any]:
        return {
            "serverName": self.server,
            "backupId": self.backup_id,
            "deferredDeletes": list(self.deferred),
        }


def draw(size: int, poll_seconds: int, rng: random.Random) -> list[Planted]:
    """`size` servers, each with 1-2 old own backups (the deferred deletions) and a new backup
    started at START that takes a few poll intervals; about FAIL_SHARE of them (at least one)
    fail. The draws are the baseline's, in its order."""
    failing = set(rng.sample(range(size), max(1, round(size * FAIL_SHARE))))
    planted = []
    for i in range(size):
        server = f"srv-{i:03d}"
        old = [backup_id_for(server, old_at(d)) for d in range(rng.choice((1, 2)))]
        seconds = rng.uniform(*BACKUP_INTERVALS) * poll_seconds
        planted.append(Planted(server, backup_id_for(server, START), old, seconds, i in failing))
    return planted


def old_at(number: int) -> datetime:
    return START - timedelta(days=8 + number)
