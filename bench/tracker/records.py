"""What following one run recorded (the calls and reads of each execution's account, the
executions' histories, the alerts), turned into the run's Figures."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from backup_orchestrator.domain.tracking import first_wait
from bench.tracker.account import Account
from bench.tracker.backups import Planted
from bench.tracker.figures import Figures
from bench.tracker.throttling import BURST, deployed_throttling, refused
from local.emulator import Call

TERMINAL = ("OK", "FAILED")


@dataclass(frozen=True)
class Followed:
    """One run as followed: its settings, the backups each execution followed (by name), the
    account they read, and what the executions ended with."""

    size: int
    poll: int
    deadline: int
    followed: Mapping[str, Sequence[Planted]]
    account: Account
    statuses: list[str]
    events: list[list[dict[str, Any]]]
    alerts: int
    handover: float
    real_seconds: float


def is_read(call: Call) -> bool:
    """A poll's read of the whole account: DescribeBackups without a filter."""
    return (
        call.operation == "DescribeBackups"
        and not call.params.get("BackupId")
        and not call.params.get("ServerName")
    )


def polls_of(calls: Sequence[Call]) -> list[list[Call]]:
    """One execution's calls by poll: each poll reads the account first, then deletes."""
    polls: list[list[Call]] = []
    for call in calls:
        if is_read(call) or not polls:
            polls.append([call])
        else:
            polls[-1].append(call)
    return polls


@dataclass(frozen=True)
class Rounds:
    """The calls of every execution, in order, and by poll round (every execution's k-th poll):
    by operation, over the bucket's burst if each poll's came at once, and refused when replayed
    on their recorded times."""

    calls: list[Call]
    per_round: list[Counter[str]]
    simultaneous: list[int]
    replayed: list[int]


def rounds_of(polls: Mapping[str, list[list[Call]]]) -> Rounds:
    n_rounds = max(len(p) for p in polls.values())
    per_round: list[Counter[str]] = [Counter() for _ in range(n_rounds)]
    simultaneous = [0] * n_rounds
    number_of: dict[int, int] = {}
    for execution_polls in polls.values():
        for number, calls in enumerate(execution_polls):
            per_round[number].update(c.operation for c in calls)
            simultaneous[number] += max(0, len(calls) - BURST)
            number_of.update((id(c), number) for c in calls)
    calls = sorted((c for p in polls.values() for cs in p for c in cs), key=lambda c: c.at)
    replayed = [0] * n_rounds
    for call, no in zip(calls, refused([c.at for c in calls]), strict=True):
        replayed[number_of[id(call)]] += no
    return Rounds(calls, per_round, simultaneous, replayed)


@dataclass
class Detection:
    """When the polls saw each backup end (emulated seconds after it did, and with the poll
    before's own real time; the polls it took), the backups never seen to, and the real time
    of each poll and between polls."""

    latency: list[float] = field(default_factory=list)
    deployed: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    never: int = 0


def detection(run: Followed, polls: Mapping[str, list[list[Call]]]) -> Detection:
    seen = Detection()
    for name, backups in run.followed.items():
        reads = run.account.reads[name]
        took = [cs[-1].at - cs[0].at for cs in polls[name]]
        seen.durations += took
        seen.gaps += [b.real - a.real for a, b in itertools.pairwise(reads)]
        for p in backups:
            at = next(
                (k for k, r in enumerate(reads) if r.statuses.get(p.backup_id) in TERMINAL), None
            )
            if at is None:
                seen.never += 1
                continue
            seconds = (reads[at].emulated - p.ends).total_seconds()
            seen.latency.append(seconds)
            seen.deployed.append(seconds + (took[at - 1] if at else 0.0))
            seen.polls.append(at + 1)
    return seen


def figures(run: Followed) -> Figures:
    names = list(run.followed)
    polls = {name: polls_of(run.account.shards[name].calls) for name in names}
    rounds = rounds_of(polls)
    waits = {name: first_wait(name, run.poll) for name in names}
    seen = detection(run, polls)
    entered = [[e for e in evs if e["type"].endswith("StateEntered")] for evs in run.events]
    backups = list(run.followed.values())
    return Figures(
        size=run.size,
        poll_seconds=run.poll,
        deadline_seconds=run.deadline,
        executions=len(names),
        per_execution=[len(b) for b in backups],
        statuses=dict(Counter(run.statuses)),
        failed_backups=sum(p.fails for b in backups for p in b),
        alerts=run.alerts,
        alerting_executions=sum(
            any(e.get("stateEnteredEventDetails", {}).get("name") == "Alert" for e in es)
            for es in entered
        ),
        calls=dict(Counter(c.operation for c in rounds.calls)),
        call_errors=dict(Counter(f"{c.operation}:{c.error}" for c in rounds.calls if c.error)),
        rounds=len(rounds.per_round),
        per_round=[dict(r) for r in rounds.per_round],
        throttled_per_round=rounds.replayed,
        simultaneous_per_round=rounds.simultaneous,
        transitions=[len(es) for es in entered],
        history=[len(evs) for evs in run.events],
        latency_seconds=seen.latency,
        polls=seen.polls,
        poll_gaps=seen.gaps,
        never_noticed=seen.never,
        handover_seconds=run.handover,
        real_seconds=run.real_seconds,
        reads_per_poll=[
            sum(c.operation == "DescribeBackups" for c in cs) for p in polls.values() for cs in p
        ],
        paced_per_round=deployed_throttling(polls, waits, run.poll),
        poll_durations=seen.durations,
        latency_deployed_seconds=seen.deployed,
        first_waits=[waits[name] for name in names],
    )
