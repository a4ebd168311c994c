"""Fixtures and builders for the fault-injection suite.

The emulator, the clock and the moto cloud are the ones the rest of the suite uses (from
tests/support); here the emulator also gets a deletion witness, first in
line, so every case can check what each DeleteBackup was aimed at.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.domain.ownership import creation_tags
from backup_orchestrator.domain.tiers import Tier
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.faults import DeletionWitness, PollTime
from local.runtime import wait_for_execution
from tests.conftest import FakeLambdaContext
from tests.support.fleet import cloud, paced  # noqa: F401
from tests.support.stack import stack_in_moto

SELECT_TAG = "opsworks-cm-backup"
RETAIN_TAG = "opsworks-cm-backup:retain"
SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T02:00:00Z"}
# A backup an earlier run of the product made.
EARLIER_RUN = "[opsworks-cm-backup run=scheduled-20260104T020000Z] scheduled backup"
# The tags the product writes on its backups (ownership.py): they prove the marker.
EARLIER_TAGS = creation_tags("scheduled-20260104T020000Z", Tier.DAILY)
BY_HAND = "before the upgrade, made by hand"


@pytest.fixture(params=[False, True], ids=["deleting-frees", "deleting-counts"])
def emulator(request: pytest.FixtureRequest, emulator: Emulator, clock: ManualClock) -> Emulator:
    """The suite's emulator, with a witness of every deletion ahead of any fault, under both
    readings of the limit the API reference leaves open: a backup being deleted frees its slot
    at once, or counts until it is gone (and then 30 s pass each time the function looks at the
    quota while it waits)."""
    emulator.faults.insert(0, DeletionWitness(emulator))
    if request.param:
        emulator.config.deleting_counts_toward_limit = True
        emulator.faults.append(PollTime(emulator, clock, 30, on="quota"))
    return emulator


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["serverName"]: r for r in report["results"]}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {r["serverName"]: r["outcome"] for r in report["results"]}


def build_fleet(
    emulator: Emulator,
    rng: random.Random,
    count: int,
    *,
    tight: int = 0,
    busy: int = 0,
    prefix: str = "chef",
) -> list[str]:
    """`count` tagged servers with a history drawn from `rng` (the same for the same seed).

    Every server has 2-4 OK backups of the product's own and an automated one; some have a FAILED
    one of the product's, a manual backup made by hand, or a retention tag. The first `busy`
    servers are BACKING_UP (an earlier run's backup, still IN_PROGRESS). The account's limit is
    set so that `tight` backups must be deleted before this run's backups fit.
    """
    backend = emulator.backend
    backend.config.server_limit = max(backend.config.server_limit, count + 2)
    now = backend.clock.now()
    names = [f"{prefix}-{i:02d}" for i in range(count)]
    for i, name in enumerate(names):
        tags = {SELECT_TAG: "enabled"}
        retain = rng.choice([None, None, "1", "2", "3"])
        if retain is not None:
            tags[RETAIN_TAG] = retain
        engine = rng.choice(["ChefAutomate", "Puppet"])
        backend.add_server(name, engine=engine, tags=tags)
        for days in sorted(rng.sample(range(1, 15), rng.randint(2, 4))):
            ago = timedelta(days=days, minutes=i)
            backend.add_backup(name, now - ago, description=EARLIER_RUN, tags=EARLIER_TAGS)
        if rng.random() < 0.3:
            ago = timedelta(days=rng.randint(1, 14), hours=12, minutes=i)
            backend.add_backup(
                name, now - ago, status="FAILED", description=EARLIER_RUN, tags=EARLIER_TAGS
            )
        if rng.random() < 0.4:
            ago = timedelta(days=rng.randint(1, 30), hours=6, minutes=i)
            backend.add_backup(name, now - ago, description=BY_HAND)
        ago = timedelta(hours=rng.randint(1, 20), minutes=i)
        backend.add_backup(name, now - ago, backup_type="AUTOMATED")
    for name in names[:busy]:
        backend.op_create_backup(
            {
                "ServerName": name,
                "Description": EARLIER_RUN,
                "Tags": [{"Key": k, "Value": v} for k, v in EARLIER_TAGS.items()],
            },
            f"arn:aws:iam::{backend.config.account_id}:user/earlier-run",
        )
    backend.config.manual_backup_limit = backend.manual_backups_used() + count - busy - tight
    return names


@dataclass
class DwindlingContext(FakeLambdaContext):
    """A Lambda context whose remaining time drops by `step_ms` each time it is read."""

    step_ms: int = 1_000
    reads: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def get_remaining_time_in_millis(self) -> int:
        with self._lock:
            self.reads += 1
            left = self.remaining_ms
            self.remaining_ms -= self.step_ms
            return left


@dataclass
class TrackedCloud:
    """The synthesized stack's runtime pieces in moto, with an inbox on the alert topic."""

    local: LocalCloud

    @property
    def sfn(self) -> Any:
        return boto3.client("stepfunctions")

    def alerts(self) -> list[dict[str, str]]:
        return self.local.alerts()

    def wait_for(self, execution_arn: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for_execution(self.sfn, execution_arn, timeout=timeout)

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=self.local.tracker_arn)["executions"]
        return list(listed)


@pytest.fixture
def tracked(
    emulator: Emulator,
    clock: ManualClock,
    template_json: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TrackedCloud]:
    """The orchestrator as synthesized, with the synthesized tracker running in moto."""
    with stack_in_moto(emulator, clock, template_json, monkeypatch, ("Tracker",)) as local:
        yield TrackedCloud(local)
