"""The plan as the report tells it (results.py): what each planned part is reported as before
anything is done, a dry run's whole report, and the backups of deleted servers."""

from __future__ import annotations

import pytest

from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import DeletionReport, OrphanReport, QuotaReport
from backup_orchestrator.domain.planner import ADOPTED, Action, Deletion, ServerPlan, plan
from backup_orchestrator.domain.records import Outcome, Quota
from backup_orchestrator.run.results import dry_run_report, orphan, result
from tests.support.planning import backup, policy, server

NOW_DELETED = Deletion("chef-a-failed", "chef-a", "deleted now to make room; it had failed")
LATER = Deletion(
    "chef-a-old", "chef-a", "beyond retention (2 kept), removed once the new backup is OK"
)


def reports(*deletions: Deletion) -> list[DeletionReport]:
    return [DeletionReport(backup_id=d.backup_id, reason=d.reason) for d in deletions]


@pytest.mark.parametrize(
    ("action", "outcome", "reason"),
    [
        (Action.ADOPT, Outcome.STARTED, "why"),
        (Action.NOTHING, Outcome.SKIPPED, "why"),
        (Action.RETRY, Outcome.RETRYING, "why"),
        (Action.FAIL, Outcome.FAILED, "why"),
        # Stays FAILED unless its backup starts: a server is never missed silently.
        (Action.CREATE, Outcome.FAILED, "not started"),
    ],
)
def test_before_anything_is_done_each_part_is_reported_as_what_it_will_be(
    action: Action, outcome: Outcome, reason: str
) -> None:
    item = ServerPlan("chef-a", action, "why", retain_asked=3, retain_granted=2)

    reported = result(item, dry_run=False)

    assert (reported.server_name, reported.outcome, reported.reason) == ("chef-a", outcome, reason)
    assert (reported.retain.asked, reported.retain.granted) == (3, 2)


def test_a_backup_to_start_has_deleted_nothing_and_defers_nothing_before_it_starts() -> None:
    item = ServerPlan(
        "chef-a", Action.CREATE, "keeping 2 backups", delete_now=[NOW_DELETED], deferred=[LATER]
    )

    reported = result(item, dry_run=False)

    assert (reported.deleted, reported.deferred_deletes, reported.backup_id) == ([], [], None)


def test_a_dry_run_says_what_it_would_start_delete_now_and_defer() -> None:
    item = ServerPlan(
        "chef-a", Action.CREATE, "keeping 2 backups", delete_now=[NOW_DELETED], deferred=[LATER]
    )

    reported = result(item, dry_run=True)

    assert (reported.outcome, reported.reason) == (
        Outcome.PLANNED,
        "would start a backup; keeping 2 backups",
    )
    assert reported.deleted == reports(NOW_DELETED)
    assert reported.deferred_deletes == reports(LATER)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_backup_an_earlier_attempt_started_is_reported_started_with_what_it_defers(
    dry_run: bool,
) -> None:
    item = ServerPlan(
        "chef-a", Action.ADOPT, ADOPTED, backup_id="chef-a-new", deferred=[LATER, NOW_DELETED]
    )

    reported = result(item, dry_run=dry_run)

    assert (reported.outcome, reported.backup_id) == (Outcome.STARTED, "chef-a-new")
    assert reported.deferred_deletes == reports(LATER, NOW_DELETED)
    assert reported.deleted == []


@pytest.mark.parametrize("action", [Action.NOTHING, Action.RETRY, Action.FAIL])
def test_a_server_that_gets_no_backup_lists_no_deletions_even_in_a_dry_run(action: Action) -> None:
    reported = result(ServerPlan("chef-a", action, "why", deferred=[LATER]), dry_run=True)

    assert reported.outcome is not Outcome.PLANNED
    assert reported.reason == "why"
    assert (reported.deleted, reported.deferred_deletes) == ([], [])


def test_a_dry_runs_report_is_the_whole_plan_with_the_quota_it_foresees() -> None:
    servers = [server("chef-a"), server("chef-b", "UNDER_MAINTENANCE")]
    backups = [backup("chef-a", days) for days in (1, 2, 3)]
    planned = plan(servers, backups, Quota(3, 50), policy(retain=2))
    request = RunRequest("manual-abc", False, None, True, None, None, "manual-abc")

    report = dry_run_report(request, planned)

    assert (report.run_id, report.dry_run) == ("manual-abc", True)
    # One new backup; two old ones go once it is OK.
    assert report.quota == QuotaReport(used=3, maximum=50, used_after_run=4, used_when_settled=2)
    assert [(r.server_name, r.outcome) for r in report.results] == [
        ("chef-a", Outcome.PLANNED),
        ("chef-b", Outcome.FAILED),
    ]
    deferred = [d.backup_id for d in report.results[0].deferred_deletes]
    assert deferred == [b.backup_id for b in backups[1:]]


@pytest.mark.parametrize("own", [True, False])
def test_a_backup_of_a_deleted_server_is_reported_with_whose_it_is(own: bool) -> None:
    left = backup("chef-old", 30, own=own, status="FAILED")

    assert orphan(left) == OrphanReport(
        backup_id=left.backup_id,
        server_name="chef-old",
        created_at=left.created_at,
        status="FAILED",
        own=own,
    )
