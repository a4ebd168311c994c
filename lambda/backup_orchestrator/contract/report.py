"""The JSON report a run returns: what it did, per server, and the account's quota; and the
record of it the idempotency table keeps, which a second delivery of the run answers."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from backup_orchestrator.domain import messages
from backup_orchestrator.domain.records import Outcome

# DynamoDB holds at most 400 KB an item; a run's record in the idempotency table stays within a
# tenth of it whatever the fleet (`maxServers` accepts up to 1,000 servers)...
RECORD_LIMIT = 40_000
# ...of which its JSON takes at most this much (the rest: Powertools' key, status and expiries).
RECORD_BYTES = 36_000
# The tracker executions the record names at most (one per 200 backups: 5 for 1,000 servers).
RECORD_TRACKERS = 20
# The record names servers by outcome while they fit, in this order: those not backed up first.
LISTED = (Outcome.FAILED, Outcome.RETRYING, Outcome.SKIPPED, Outcome.STARTED, Outcome.PLANNED)


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
    # The tiers asked and granted (`daily:7 weekly:4 monthly:3`), and the tier of the backup the
    # run makes or follows.
    tiers_asked: str | None = None
    tiers_granted: str | None = None
    tier: str | None = None


class KeptReport(_Camel):
    """A backup with the product's marker kept because its own run tag does not prove it the
    product's (ownership.py); `awaiting_adoption`: made before the product tagged its backups."""

    backup_id: str
    reason: str
    awaiting_adoption: bool


class ServerResult(_Camel):
    server_name: str
    outcome: Outcome
    backup_id: str | None = None
    reason: str
    deleted: list[DeletionReport] = []
    deferred_deletes: list[DeletionReport] = []
    # RETRYING while room made for it is still being freed: the next try names it so (the
    # report says so in `nextTry.waitingForRoom`, not per server).
    waiting_for_room: Annotated[bool, Field(exclude=True)] = False
    retain: RetainReport = RetainReport()
    not_proven: list[KeptReport] = []
    warnings: list[str] = []


class QuotaReport(_Camel):
    used: int
    maximum: int
    # Manual backups once this run's backups exist, and once deferred deletions are applied.
    used_after_run: int
    used_when_settled: int


class OwnershipReport(_Camel):
    """The backups with the product's marker that their run tag does not prove the product's,
    found this run (the ones it would otherwise delete): never deleted, they hold part of the
    limit. `awaiting_adoption` of them were made before the product tagged its backups."""

    not_proven: int
    awaiting_adoption: int
    # The share of the account's manual-backup limit they hold, for example "3 of 50".
    limit_held: str


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
    """The scheduled retry of the slot's busy servers, and of those waiting for room."""

    attempt: int
    at: datetime
    servers: list[str]
    schedule: str
    # Of `servers`, those whose room under the manual-backup limit is still being freed: the
    # try counts the deletions made for them as their room (domain/room.py).
    waiting_for_room: list[str] = []


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
    ownership: OwnershipReport | None = None

    def outside_rpo(self) -> list[ComplianceReport]:
        """The servers out of their RPO with no backup of theirs under way (what alerts)."""
        return [c for c in self.compliance if not c.compliant and c.catching_up is None]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


class NextTryRecord(_Camel):
    """The scheduled retry, without its servers (the record's RETRYING ones): how many of them
    wait for room."""

    attempt: int
    at: datetime
    schedule: str
    waiting_for_room: int


class ComplianceCounts(_Camel):
    """How many servers the run judged, how many are out of their RPO with nothing under way
    (what alerts), and how many are out of it but catching up."""

    judged: int
    outside_rpo: int
    catching_up: int


class RunRecord(_Camel):
    """What the idempotency table keeps of a run, and what a second delivery of its slot (or of
    its invocation) answers instead of the report: within RECORD_BYTES of JSON at any fleet.

    It has what a repeat needs to know the run happened and how it went: the run id, the quota,
    the count of servers per outcome, each server's outcome (by name, grouped by outcome, those
    not backed up first) as far as they fit (`unlisted` counts the names left out), the tracker
    executions, the next try, and counts of the rest. No reasons and no deletions: the whole
    report is in the function's log, which `wholeReport` points to.
    """

    run_id: str
    dry_run: bool
    quota: QuotaReport
    # The number of servers with each outcome (every outcome, 0 included).
    outcomes: dict[Outcome, int]
    # The servers' names by outcome, in LISTED order as far as they fit.
    servers: dict[Outcome, list[str]]
    unlisted: int
    tracker_execution_arn: str | None
    # At most RECORD_TRACKERS of them; `trackerExecutions` counts them all.
    tracker_execution_arns: list[str]
    tracker_executions: int
    tracker_error: str | None
    next_try: NextTryRecord | None
    compliance: ComplianceCounts
    backups_of_deleted_servers: int
    # The number of restore drills with each outcome.
    drills: dict[str, int]
    ownership: OwnershipReport | None
    whole_report: str

    @classmethod
    def of(cls, report: RunReport) -> RunRecord:
        """The record of `report`, its servers' names within what RECORD_BYTES leaves."""
        arns = report.tracker_execution_arns[:RECORD_TRACKERS]
        record = cls(
            run_id=report.run_id,
            dry_run=report.dry_run,
            quota=report.quota,
            outcomes={o: report.count(o) for o in Outcome},
            servers={o: [] for o in LISTED},
            unlisted=len(report.results),
            tracker_execution_arn=report.tracker_execution_arn,
            tracker_execution_arns=arns,
            tracker_executions=len(report.tracker_execution_arns),
            tracker_error=(
                messages.cut(report.tracker_error, messages.REASON_BYTES)
                if report.tracker_error is not None
                else None
            ),
            next_try=(
                NextTryRecord(
                    attempt=report.next_try.attempt,
                    at=report.next_try.at,
                    schedule=report.next_try.schedule,
                    waiting_for_room=len(report.next_try.waiting_for_room),
                )
                if report.next_try
                else None
            ),
            compliance=ComplianceCounts(
                judged=len(report.compliance),
                outside_rpo=len(report.outside_rpo()),
                catching_up=sum(1 for c in report.compliance if c.catching_up is not None),
            ),
            backups_of_deleted_servers=len(report.backups_of_deleted_servers),
            drills=dict(Counter(d.outcome for d in report.drills)),
            ownership=report.ownership,
            whole_report=(
                f"in the orchestrator function's log, lines with run_id {report.run_id}: "
                '"run report" (the run), one "server outcome" per server (its outcome, reason, '
                'backup and deletions), one "drill outcome" per restore drill; '
                "`owcm-backup status` shows every server's compliance"
            ),
        )
        # Each name listed takes its JSON string and a ", " (the first of a list none).
        names = [
            (r.outcome, r.server_name) for o in LISTED for r in report.results if r.outcome is o
        ]
        room = RECORD_BYTES - messages.json_bytes(record.to_json())
        listed = messages.fitting([messages.json_bytes(name) + 2 for _, name in names], room)
        for outcome, name in names[:listed]:
            record.servers[outcome].append(name)
        record.unlisted = len(names) - listed
        return record
