"""One run's figures (Figures), and the baseline's: the tracker the poll loop replaced."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

# The baseline's figures: the Map that polled each backup with its own DescribeBackups.
BASELINE = Path(__file__).parent.with_name("baseline_tracker.json")


@dataclass
class Figures:
    """One run's figures; the fields before `reads_per_poll` are the baseline's too."""

    size: int
    poll_seconds: int
    deadline_seconds: int
    executions: int
    per_execution: list[int]
    statuses: dict[str, int]
    failed_backups: int
    alerts: int
    alerting_executions: int
    calls: dict[str, int]
    call_errors: dict[str, int]
    rounds: int
    per_round: list[dict[str, int]]
    throttled_per_round: list[int]
    simultaneous_per_round: list[int]
    transitions: list[int]
    history: list[int]
    latency_seconds: list[float]
    polls: list[int]
    poll_gaps: list[float]
    never_noticed: int
    handover_seconds: float
    real_seconds: float
    # The poll loop's own (None in the baseline): DescribeBackups per execution poll, throttled
    # calls per round in the deployed case as the function paces them, the real seconds each
    # poll took, the latency with the poll before's own time, each execution's deployed first
    # wait.
    reads_per_poll: list[int] | None = None
    paced_per_round: list[int] | None = None
    poll_durations: list[float] | None = None
    latency_deployed_seconds: list[float] | None = None
    first_waits: list[int] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @property
    def transitions_per_backup_poll(self) -> float:
        """The run's state transitions over its backup-polls (each backup's polls until one
        saw it end): what following one backup through one poll costs."""
        return sum(self.transitions) / max(1, sum(self.polls))


@dataclass(frozen=True)
class Baseline:
    commit: str
    runs: dict[int, Figures]


def load_baseline(path: Path = BASELINE) -> Baseline:
    document = json.loads(path.read_text())
    runs = {int(r["size"]): Figures.from_json(r) for r in document["runs"]}
    return Baseline(str(document["commit"]), runs)
