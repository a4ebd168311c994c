"""Figure 3: the synthesized tracker state machine in moto, following emulated backups."""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from backup_orchestrator.domain.history_budget import BATCH
from bench.report import Row
from local.cloud import LocalCloud, synthesize
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock
from local.emulator.errors import ServiceError
from local.fleet import add_own_backup

# One real second of Wait stands for one emulated poll interval.
POLL_REAL_SECONDS = 1
EMULATED_PER_POLL = 60
# Each backup ends this long after a poll: the worst phase, noticed one interval later, less this.
PHASE_SECONDS = 1
LATENCY_TARGET = 90
# The states one poll passes through (infra/tracker.py).
POLL_LOOP = ("WaitForBackup", "DescribeBackup", "CountTime", "CheckStatus")
# The states an execution passes through once, whatever the number of backups.
RUN_STATES = (
    "FollowBackups",
    "Summarize",
    "NeedsAttention",
    "AnyFailed",
    "AllBackupsOk",
    "Alert",
    "BackupsNeedAttention",
)
STRATEGY = (
    "fixed interval: Wait pollSeconds, then one DescribeBackups per backup (no backoff, "
    "no events); worst-case detection latency is one poll interval while the run's backups fit "
    "in the Map's concurrency"
)


class Probe:
    """A fault hook that never fails a call: each poll of a backup moves the clock one interval
    and records what that poll sees (emulated time, status)."""

    def __init__(self, emulator: Emulator, clock: ManualClock) -> None:
        self.emulator = emulator
        self.clock = clock
        self.seen: dict[str, list[tuple[datetime, str]]] = {}

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        backup_id = params.get("BackupId")
        if operation != "DescribeBackups" or not backup_id:
            return None
        now = self.clock.advance(EMULATED_PER_POLL)
        backend = self.emulator.backend
        with backend.lock:
            backend.settle(now)
            backup = backend.backups.get(backup_id)
            status = backup.status if backup else "GONE"
        self.seen.setdefault(backup_id, []).append((now, status))
        return None


@dataclass
class TrackedBackup:
    """One backup followed by one tracker execution."""

    minutes: float
    backup_seconds: float
    status: str
    polls: int
    transitions: int
    latency_seconds: float | None
    real_seconds: float
    states: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "nominalMinutes": self.minutes,
            "backupSeconds": self.backup_seconds,
            "executionStatus": self.status,
            "polls": self.polls,
            "stateTransitions": self.transitions,
            "detectionLatencySeconds": self.latency_seconds,
            "realSeconds": round(self.real_seconds, 2),
            "statesEntered": self.states,
        }


@dataclass
class TrackerFigure:
    poll_seconds: int
    map_concurrency: int
    backups: list[TrackedBackup]

    def worst_case(self, backups: int) -> int:
        """Estimated worst detection latency when `backups` end together. The orchestrator
        starts executions of at most BATCH backups (fewer when their history needs it); while
        the Map follows at least BATCH at once,
        every backup is polled from the start and is noticed within one interval. A Map smaller
        than the batch would queue the rest, one more interval per extra round."""
        per_execution = min(backups, BATCH)
        if not self.map_concurrency or self.map_concurrency >= per_execution:
            return self.poll_seconds
        return self.poll_seconds * math.ceil(per_execution / self.map_concurrency)

    def to_json(self, fleets: Sequence[int]) -> dict[str, Any]:
        return {
            "strategy": STRATEGY,
            "deployedPollSeconds": self.poll_seconds,
            "mapMaxConcurrency": self.map_concurrency,
            "worstCaseLatencySecondsEstimate": {str(n): self.worst_case(n) for n in fleets},
            "emulatedSecondsPerPoll": EMULATED_PER_POLL,
            "phaseSeconds": PHASE_SECONDS,
            "backups": [b.to_json() for b in self.backups],
        }


def template() -> dict[str, Any]:
    """The stack as `cdk synth` builds it (cdk-nag included), in a directory removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-cdk-") as out:
        return synthesize(outdir=Path(out))


def measure(minutes: Sequence[float]) -> TrackerFigure:
    stack = template()
    clock = ManualClock()
    emulator = Emulator(EmulatorConfig(), clock)
    probe = Probe(emulator, clock)
    emulator.faults.append(probe)
    executing = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    with InProcessEndpoint(emulator), executing:
        cloud = LocalCloud(stack).create()
        poll_seconds = int(cloud.function_environment()["POLL_SECONDS"])
        concurrency = map_concurrency(json.loads(cloud.definition()))
        backups = [_follow(cloud, emulator, probe, m) for m in minutes]
    return TrackerFigure(poll_seconds, concurrency, backups)


def map_concurrency(definition: dict[str, Any]) -> int:
    """MaxConcurrency of the Map that iterates over the run's backups (0 means unbounded)."""
    for state in definition["States"].values():
        if state.get("Type") == "Map" and state.get("ItemsPath") == "$.backups":
            return int(state.get("MaxConcurrency", 0))
    raise ValueError("the tracker definition has no Map over $.backups")


def _start_backup(emulator: Emulator, seconds: float) -> tuple[str, str, str, datetime]:
    """A new server with one old own backup and a backup of `seconds` just started; returns
    (server, new backup id, old backup id, when the new backup really finishes)."""
    backend = emulator.backend
    with backend.lock:
        server = f"srv-{len(backend.servers):02d}"
        backend.config.backup_seconds = seconds
        backend.add_server(server)
        old = add_own_backup(backend, server, backend.clock.now() - timedelta(days=8)).backup_id
        created = backend.op_create_backup({"ServerName": server}, "bench")["Backup"]
    finished = created["CreatedAt"] + timedelta(seconds=seconds)
    return server, created["BackupId"], old, finished


def _follow(cloud: LocalCloud, emulator: Emulator, probe: Probe, minutes: float) -> TrackedBackup:
    seconds = minutes * 60 + PHASE_SECONDS
    server, backup_id, old, finished = _start_backup(emulator, seconds)
    run_id = f"bench-{server}"
    payload = {
        "runId": run_id,
        "pollSeconds": POLL_REAL_SECONDS,
        "deadlineSeconds": 86_400,
        "backups": [{"serverName": server, "backupId": backup_id, "deferredDeletes": [old]}],
    }
    sfn = boto3.client("stepfunctions")
    started = time.monotonic()
    arn = sfn.start_execution(
        stateMachineArn=cloud.tracker_arn, name=run_id, input=json.dumps(payload)
    )["executionArn"]
    status = _wait(sfn, arn, timeout=seconds / EMULATED_PER_POLL * 3 + 60)
    real = time.monotonic() - started
    states = _states_entered(sfn, arn)
    seen = probe.seen.get(backup_id, [])
    ok_at = next((at for at, state in seen if state == "OK"), None)
    return TrackedBackup(
        minutes=minutes,
        backup_seconds=seconds,
        status=status,
        polls=len(seen),
        transitions=sum(states.values()),
        latency_seconds=None if ok_at is None else (ok_at - finished).total_seconds(),
        real_seconds=real,
        states=states,
    )


def _wait(sfn: Any, arn: str, timeout: float) -> str:
    """The execution's final status; stops it and says TIMED_OUT after `timeout` real seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str(sfn.describe_execution(executionArn=arn)["status"])
        if status != "RUNNING":
            return status
        time.sleep(0.1)
    sfn.stop_execution(executionArn=arn, cause="benchmark time limit")
    return "TIMED_OUT"


def _history(sfn: Any, arn: str) -> Iterator[dict[str, Any]]:
    page: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        answer = sfn.get_execution_history(**page)
        yield from answer["events"]
        if not answer.get("nextToken"):
            return
        page["nextToken"] = answer["nextToken"]


def _states_entered(sfn: Any, arn: str) -> dict[str, int]:
    """State transitions by state name: history events whose type ends with StateEntered."""
    counts: dict[str, int] = {}
    for event in _history(sfn, arn):
        if event["type"].endswith("StateEntered"):
            name = event.get("stateEnteredEventDetails", {}).get("name", event["type"])
            counts[name] = counts.get(name, 0) + 1
    return counts


def table(figure: TrackerFigure) -> tuple[list[str], list[list[object]]]:
    """Transitions split into each poll, the rest of each backup, and the run's own states."""
    headers = [
        "backup",
        "execution",
        "polls",
        "transitions",
        "per poll",
        "per backup",
        "per run",
        "noticed",
        "real",
    ]
    rows: list[list[object]] = []
    for b in figure.backups:
        looping = sum(b.states.get(name, 0) for name in POLL_LOOP)
        per_run = sum(b.states.get(name, 0) for name in RUN_STATES)
        rows.append(
            [
                f"{b.minutes:g} min + {PHASE_SECONDS} s",
                b.status,
                b.polls,
                b.transitions,
                _per_poll(looping, b.polls),
                b.transitions - looping - per_run,
                per_run,
                "never" if b.latency_seconds is None else f"{b.latency_seconds:.0f} s later",
                f"{b.real_seconds:.1f} s",
            ]
        )
    return headers, rows


def _per_poll(looping: int, polls: int) -> float:
    return round(looping / polls, 2) if polls else 0.0


def rows(figure: TrackerFigure, fleet: int) -> list[Row]:
    """Summary rows; `fleet` is the largest run whose worst case is estimated."""
    out = [_worst_case_row(figure, min(fleet, figure.map_concurrency or fleet))]
    if figure.map_concurrency and fleet > figure.map_concurrency:
        out.append(_worst_case_row(figure, fleet))
    for b in figure.backups:
        out.append(_latency_row(b))
        out.append(Row(f"transitions, {b.minutes:g} min backup", str(b.transitions), "-", None))
    return out


def _worst_case_row(figure: TrackerFigure, backups: int) -> Row:
    worst = figure.worst_case(backups)
    queued = min(backups, BATCH) - figure.map_concurrency
    why = (
        f"the Map follows {figure.map_concurrency} backups at a time; the other {queued} wait "
        "for a slot and are first polled one interval after it frees up"
    )
    return Row(
        f"worst-case latency, {backups} backups (estimate)",
        f"{worst} s (poll {figure.poll_seconds} s, Map {figure.map_concurrency}, "
        f"at most {BATCH} an execution)",
        f"< {LATENCY_TARGET} s",
        worst < LATENCY_TARGET,
        why if queued > 0 else f"one poll interval is {figure.poll_seconds} s",
    )


def _latency_row(b: TrackedBackup) -> Row:
    latency = b.latency_seconds
    value = "never" if latency is None else f"{latency:.0f} s"
    met = b.status == "SUCCEEDED" and latency is not None and latency <= LATENCY_TARGET
    why = f"execution ended {b.status}" if b.status != "SUCCEEDED" else f"noticed {value} late"
    return Row(
        f"detection latency, {b.minutes:g} min backup", value, f"<= {LATENCY_TARGET} s", met, why
    )
