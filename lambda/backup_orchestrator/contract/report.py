"""The JSON report a run returns: what it did, per server, and the account's quota."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from backup_orchestrator.domain.records import Outcome


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class DeletionReport(_Camel):
    backup_id: str
    reason: str


class RetainReport(_Camel):
    asked: int | None = None
    granted: int | None = None


class ServerResult(_Camel):
    server_name: str
    outcome: Outcome
    backup_id: str | None = None
    reason: str
    deleted: list[DeletionReport] = []
    deferred_deletes: list[DeletionReport] = []
    retain: RetainReport = RetainReport()
    warnings: list[str] = []


class QuotaReport(_Camel):
    used: int
    maximum: int
    # Manual backups once this run's backups exist, and once deferred deletions are applied.
    used_after_run: int
    used_when_settled: int


class OrphanReport(_Camel):
    """A manual backup of a server that no longer exists (or of an earlier server of the same
    name): never pruned by a run; `owcm-backup delete-orphans` removes them on request."""

    backup_id: str
    server_name: str
    created_at: datetime
    status: str
    # Whether this product made it.
    own: bool


class ComplianceReport(_Camel):
    """One server against its recovery point objective."""

    server_name: str
    selected: bool
    rpo_hours: int
    newest_ok_backup: str | None
    newest_ok_at: datetime | None
    age_seconds: float | None
    compliant: bool
    # The backup in progress of a server out of its RPO (it is catching up; not alerted).
    catching_up: str | None = None
    summary: str
    reasons: list[str] = []


class NextTryReport(_Camel):
    """The scheduled retry of the slot's busy servers."""

    attempt: int
    at: datetime
    servers: list[str]
    schedule: str


class DrillReport(_Camel):
    """What a scheduled run did about one server's restore drill, or about a drill server left
    over: STARTED, SKIPPED (due, but the reason says why not now), FAILED (could not be
    started), DELETED (a leftover drill server is being deleted) or NOT_DELETED (URGENT)."""

    server_name: str
    outcome: str
    reason: str
    drill_server: str | None = None
    backup_id: str | None = None
    execution_arn: str | None = None


class RunReport(_Camel):
    run_id: str
    dry_run: bool
    quota: QuotaReport
    results: list[ServerResult]
    backups_of_deleted_servers: list[OrphanReport] = []
    # The servers judged against their RPO: every selected server (and any remembered that is no
    # longer selected) in a scheduled run; the run's own servers in a manual run.
    compliance: list[ComplianceReport] = []
    next_try: NextTryReport | None = None
    tracker_execution_arn: str | None = None
    # One execution per 40 backups; the first is also `trackerExecutionArn`.
    tracker_execution_arns: list[str] = []
    tracker_error: str | None = None
    # The scheduled run's restore drills: started, skipped, leftovers deleted (drill_runner.py).
    drills: list[DrillReport] = []

    def outside_rpo(self) -> list[ComplianceReport]:
        """The servers out of their RPO with no backup of theirs under way (what alerts)."""
        return [c for c in self.compliance if not c.compliant and c.catching_up is None]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)
