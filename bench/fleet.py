"""Figures 1 and 2: API calls and wall time of one real orchestrator run per emulated fleet."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import boto3
from moto import mock_aws

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers import orchestrator as handler
from bench.env import environment
from bench.report import Row
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock
from local.fleet import add_own_backup
from local.runtime import LocalLambdaContext

RATE, BURST, LATENCY_MS = 5.0, 10, 50.0
RETAIN = 7  # the settings' default retention
EXTRA_OLD = 2  # old own backups beyond retention on every fifth server
SELECT_TAG = {"opsworks-cm-backup": "enabled"}
SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T02:00:00Z"}
IDEMPOTENCY_TABLE = "opsworks-cm-backup-idempotency"
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
RATIO_TARGET = 1.2
OPERATIONS = (
    "DescribeServers",
    "DescribeBackups",
    "DescribeAccountAttributes",
    "ListTagsForResource",
    "CreateBackup",
    "DeleteBackup",
)


@dataclass
class FleetResult:
    """What one run against a fleet of `servers` cost, in calls and seconds."""

    servers: int
    planned_deletions: int
    accepted: dict[str, int]
    minimum: dict[str, int]
    throttled: int
    failed: dict[str, int]
    started: int
    deleted: int
    log_warnings: int
    wall_seconds: float

    @property
    def accepted_total(self) -> int:
        return sum(self.accepted.values())

    @property
    def minimum_total(self) -> int:
        return sum(self.minimum.values())

    @property
    def extra(self) -> dict[str, int]:
        """Accepted calls beyond the minimum, by operation."""
        names = set(self.accepted) | set(self.minimum)
        over = {op: self.accepted.get(op, 0) - self.minimum.get(op, 0) for op in sorted(names)}
        return {op: n for op, n in over.items() if n}

    @property
    def bound_seconds(self) -> float:
        """The least time the service's rate limit allows for the calls it accepted."""
        return max(0, self.accepted_total - BURST) / RATE

    @property
    def ratio(self) -> float | None:
        return self.wall_seconds / self.bound_seconds if self.bound_seconds else None

    def to_json(self) -> dict[str, Any]:
        return {
            "servers": self.servers,
            "plannedImmediateDeletions": self.planned_deletions,
            "acceptedCalls": self.accepted,
            "minimumCalls": self.minimum,
            "extraCalls": self.extra,
            "throttledCalls": self.throttled,
            "failedCalls": self.failed,
            "backupsStarted": self.started,
            "backupsDeleted": self.deleted,
            "logWarnings": self.log_warnings,
            "wallSeconds": round(self.wall_seconds, 3),
            "boundSeconds": round(self.bound_seconds, 3),
            "wallOverBound": None if self.ratio is None else round(self.ratio, 3),
        }


def heavy(index: int) -> bool:
    """Every fifth server holds old own backups beyond its retention."""
    return index % 5 == 0


def build_fleet(size: int) -> tuple[Emulator, int]:
    """An account of `size` tagged servers whose manual-backup limit forces one immediate
    deletion per heavy server; returns the emulator and that number of deletions."""
    deletions = sum(1 for i in range(size) if heavy(i))
    used = deletions * (RETAIN + EXTRA_OLD)
    config = EmulatorConfig(
        server_limit=size, manual_backup_limit=used + size - deletions, backup_seconds=3600
    )
    clock = ManualClock()
    emulator = Emulator(config, clock, rate=RATE, burst=BURST, latency_ms=LATENCY_MS)
    for i in range(size):
        name = f"srv-{i:03d}"
        emulator.backend.add_server(
            name, engine="Puppet" if i % 2 else "ChefAutomate", tags=dict(SELECT_TAG)
        )
        if heavy(i):
            for age in range(1, RETAIN + EXTRA_OLD + 1):
                add_own_backup(emulator.backend, name, clock.now() - timedelta(days=age, minutes=i))
    return emulator, deletions


@contextmanager
def stand_ins() -> Iterator[None]:
    """Inside moto: the idempotency table and a state machine, named as the handler reads them."""
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        tracker_arn = boto3.client("stepfunctions").create_state_machine(
            name="opsworks-cm-backup-tracker",
            definition=json.dumps(PASS_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        values = {"TRACKER_STATE_MACHINE_ARN": tracker_arn, "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE}
        with environment(values):
            get_settings.cache_clear()
            try:
                yield
            finally:
                get_settings.cache_clear()


def invoke_quietly() -> tuple[dict[str, Any], int, float]:
    """Run the handler once with its logs and metrics captured; returns the report, the number
    of WARNING-or-worse log lines, and the handler's wall time."""
    log_handler = cast("Any", handler.logger.registered_handler)
    stream, log_handler.stream = log_handler.stream, io.StringIO()
    try:
        with redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            report = handler.lambda_handler(SCHEDULED, LocalLambdaContext())
            wall = time.perf_counter() - started
        logs = log_handler.stream.getvalue().splitlines()
    finally:
        log_handler.stream = stream
    warnings = sum(1 for line in logs if '"level":"WARNING"' in line or '"level":"ERROR"' in line)
    return report, warnings, wall


def measure(size: int) -> FleetResult:
    emulator, deletions = build_fleet(size)
    with InProcessEndpoint(emulator), stand_ins():
        report, warnings, wall = invoke_quietly()
    results = report["results"]
    started = sum(1 for r in results if r["outcome"] == "STARTED")
    deleted = sum(len(r["deleted"]) for r in results)
    calls = emulator.calls
    # The quota is read once more after a run that changed the account: the report says what
    # the service says.
    changed = started + deleted > 0
    minimum = dict(zip(OPERATIONS, (1, 1, 1 + changed, size, started, deleted), strict=True))
    return FleetResult(
        servers=size,
        planned_deletions=deletions,
        accepted=dict(Counter(c.operation for c in calls if c.error is None)),
        minimum={op: n for op, n in minimum.items() if n},
        throttled=sum(1 for c in calls if c.error == "ThrottlingException"),
        failed=dict(Counter(f"{c.operation}:{c.error}" for c in calls if _failed(c.error))),
        started=started,
        deleted=deleted,
        log_warnings=warnings,
        wall_seconds=wall,
    )


def _failed(error: str | None) -> bool:
    return error is not None and error != "ThrottlingException"


def calls_table(results: list[FleetResult]) -> tuple[list[str], list[list[object]]]:
    """Accepted calls per operation as `actual/minimum`, then totals, throttled and failed."""
    short = ["Servers", "Backups", "Account", "Tags", "Create", "Delete"]
    headers = ["fleet", *short, "total/min", "throttled", "failed"]
    rows: list[list[object]] = []
    for r in results:
        cells = [f"{r.accepted.get(op, 0)}/{r.minimum.get(op, 0)}" for op in OPERATIONS]
        failed = sum(r.failed.values())
        rows.append(
            [r.servers, *cells, f"{r.accepted_total}/{r.minimum_total}", r.throttled, failed]
        )
    return headers, rows


def time_table(results: list[FleetResult]) -> tuple[list[str], list[list[object]]]:
    headers = ["fleet", "accepted calls", "bound s", "wall s", "wall/bound"]
    rows: list[list[object]] = [
        [r.servers, r.accepted_total, r.bound_seconds, r.wall_seconds, _ratio_text(r)]
        for r in results
    ]
    return headers, rows


def _ratio_text(result: FleetResult) -> str:
    return "n/a" if result.ratio is None else f"{result.ratio:.2f}"


def rows(results: list[FleetResult]) -> list[Row]:
    out: list[Row] = []
    for r in results:
        out.extend([_calls_row(r), _failed_row(r), _throttled_row(r), _ratio_row(r)])
    return out


def _calls_row(r: FleetResult) -> Row:
    why = ", ".join(f"{op} {n:+d}" for op, n in r.extra.items())
    if r.deleted != r.planned_deletions:
        why += f"; {r.deleted} immediate deletions, the fleet was built for {r.planned_deletions}"
    if r.started != r.servers:
        why += f"; only {r.started} of {r.servers} backups started"
    return Row(
        f"API calls, {r.servers} servers",
        f"{r.accepted_total} (min {r.minimum_total})",
        "= minimum",
        not r.extra,
        why.strip("; "),
    )


def _failed_row(r: FleetResult) -> Row:
    total = sum(r.failed.values())
    why = ", ".join(f"{name} x{n}" for name, n in r.failed.items())
    return Row(f"failed calls, {r.servers} servers", str(total), "0", total == 0, why)


def _throttled_row(r: FleetResult) -> Row:
    return Row(f"throttled calls, {r.servers} servers", str(r.throttled), "-", None)


def _ratio_row(r: FleetResult) -> Row:
    value = f"{r.wall_seconds:.1f} s / {r.bound_seconds:.1f} s = {_ratio_text(r)}"
    met = r.ratio is None or r.ratio <= RATIO_TARGET
    return Row(f"wall/bound, {r.servers} servers", value, f"<= {RATIO_TARGET}", met, _ratio_why(r))


def _ratio_why(r: FleetResult) -> str:
    over = r.wall_seconds - r.bound_seconds
    reasons = [f"{over:.1f} s over the bound"]
    if r.throttled:
        reasons.append(
            f"{r.throttled} throttled calls each cost a client token and a backoff sleep"
        )
    if r.bound_seconds < 10:
        reasons.append(
            "the bound is short, so fixed costs (moto idempotency record, tracker start, "
            f"{LATENCY_MS:.0f} ms latency on the 3 sequential discovery calls) weigh more"
        )
    return "; ".join(reasons)
