"""The run's compliance (judge.py): which servers it judges against their recovery point objective,
with this run's outcomes first among their last runs, and the verdicts as the report carries them.
(What makes a verdict is domain/compliance.py's, tested in test_compliance.py.)"""

from __future__ import annotations

import pytest

from backup_orchestrator.contract.report import ComplianceReport
from backup_orchestrator.domain.compliance import RunEntry
from backup_orchestrator.domain.drill_servers import DRILL_OF
from backup_orchestrator.domain.records import GONE, Outcome, Server
from backup_orchestrator.run.judge import judge, judged_servers
from tests.support.planning import NOW, SELECTED, backup, server
from tests.support.running import RUN, manual, outcome, run_report, scheduled, settings

SCHEDULED = scheduled()
EARLIER = RunEntry("scheduled-20260104T120000Z", NOW, "FAILED", "the limit was full")


def names(servers: list[Server]) -> list[str]:
    return [s.name for s in servers]


DRILL = server("drill-chef-a-1a2b3c", tags={**SELECTED, DRILL_OF: "chef-a"})
FLEET = [
    server("chef-a"),
    server("chef-untagged", tags={}),
    server("chef-was-tagged", tags={}),
    server("chef-unreadable", tags={}, tags_error="AccessDeniedException"),
    server("chef-gone", GONE),
    DRILL,
]


# ---- who is judged ----------------------------------------------------------------------------


def test_a_scheduled_run_judges_the_selected_and_the_remembered_servers() -> None:
    remembered = {"chef-was-tagged": [EARLIER], "chef-gone": [EARLIER], DRILL.name: [EARLIER]}

    judged, selected = judged_servers(FLEET, SCHEDULED, settings(), remembered)

    # Never a server that is gone, nor a restore drill's temporary server.
    assert names(judged) == ["chef-a", "chef-was-tagged", "chef-unreadable"]
    # One whose tags could not be read may be selected: it counts as selected.
    assert {"chef-a", "chef-unreadable"} <= selected
    assert not {"chef-untagged", "chef-was-tagged", DRILL.name} & selected


def test_the_selection_tag_is_the_one_the_settings_name() -> None:
    servers = [server("chef-a"), server("chef-b", tags={"backup": "yes"})]

    judged, selected = judged_servers(servers, SCHEDULED, settings(SELECT_TAG="backup=yes"), {})

    assert (names(judged), selected) == (["chef-b"], {"chef-b"})


def test_a_manual_run_judges_the_servers_it_names_and_only_them_as_selected() -> None:
    # The run reads only the servers it names.
    named = [server("chef-untagged", tags={}), server("chef-gone", GONE), DRILL]

    judged, selected = judged_servers(named, manual(*names(named)), settings(), {})

    assert names(judged) == ["chef-untagged"]
    assert selected == {"chef-untagged", "chef-gone", DRILL.name}


# ---- the verdicts -----------------------------------------------------------------------------


def test_every_verdict_is_in_the_report_as_the_compliance_says() -> None:
    fresh, old = backup("chef-a", 1), backup("chef-b", 3)
    report = run_report()
    servers = [server("chef-a"), server("chef-b")]

    verdicts = judge(report, servers, {"chef-a"}, [fresh, old], NOW, settings(), {})

    assert [c.server_name for c in verdicts] == ["chef-a", "chef-b"]
    assert report.compliance == [
        ComplianceReport(
            server_name="chef-a",
            selected=True,
            rpo_hours=29,
            newest_ok_backup=fresh.backup_id,
            newest_ok_at=fresh.created_at,
            age_seconds=86_400,
            compliant=True,
            summary="newest good backup 24.0 h old, RPO 29 h",
        ),
        ComplianceReport(
            server_name="chef-b",
            selected=False,
            rpo_hours=29,
            newest_ok_backup=old.backup_id,
            newest_ok_at=old.created_at,
            age_seconds=3 * 86_400,
            compliant=False,
            summary="newest good backup 72.0 h old, RPO 29 h",
            reasons=["not selected any more (its selection tag was removed)"],
        ),
    ]


def test_the_default_rpo_and_whether_automated_backups_count_are_the_settings() -> None:
    automated = backup("chef-a", 2, kind="AUTOMATED")
    strict, lenient = run_report(), run_report()

    judge(strict, [server("chef-a")], {"chef-a"}, [automated], NOW, settings(), {})
    judge(
        lenient,
        [server("chef-a")],
        {"chef-a"},
        [automated],
        NOW,
        settings(RPO_HOURS="72", COMPLIANCE_COUNTS_AUTOMATED="true"),
        {},
    )

    assert (strict.compliance[0].compliant, strict.compliance[0].newest_ok_backup) == (False, None)
    assert (lenient.compliance[0].rpo_hours, lenient.compliance[0].compliant) == (72, True)


def test_this_runs_outcome_comes_first_among_the_servers_last_runs() -> None:
    report = run_report(outcome("chef-a", Outcome.FAILED, "not backed up: the limit was full"))

    judge(report, [server("chef-a")], {"chef-a"}, [], NOW, settings(), {"chef-a": [EARLIER]})

    assert report.compliance[0].reasons == [
        f"run {RUN}: not backed up: the limit was full",
        f"run {EARLIER.run_id}: the limit was full",
    ]


@pytest.mark.parametrize(
    ("result", "backup_id", "catching_up"),
    [
        (Outcome.STARTED, "chef-a-new", "chef-a-new"),
        (Outcome.STARTED, None, None),
        (Outcome.SKIPPED, "chef-a-new", None),
    ],
)
def test_a_late_server_whose_backup_this_run_started_is_catching_up(
    result: Outcome, backup_id: str | None, catching_up: str | None
) -> None:
    report = run_report(outcome("chef-a", result, backup_id=backup_id))
    late = backup("chef-a", 3)

    judge(report, [server("chef-a")], {"chef-a"}, [late], NOW, settings(), {})

    [verdict] = report.compliance
    assert (verdict.compliant, verdict.catching_up) == (False, catching_up)


def test_a_server_waiting_for_room_in_its_slot_is_judged_as_any_and_says_it_waits() -> None:
    # chef-a is RETRYING, its room still being freed; its newest good backup is a day old, so
    # it is within its RPO: nothing to say. chef-b's is three days old: out of it, with why.
    waiting = (
        "the room made for its backup under the account's manual-backup limit is still being "
        "freed (the service still counts the backups being deleted; waited 100 s), so it is "
        "tried again later in the slot, and that room is kept for it: at 12:15 UTC (try 1 of 8; "
        "the retry window ends 14:00 UTC)"
    )
    report = run_report(
        outcome("chef-a", Outcome.RETRYING, waiting), outcome("chef-b", Outcome.RETRYING, waiting)
    )
    servers = [server("chef-a"), server("chef-b")]

    judge(
        report,
        servers,
        {"chef-a", "chef-b"},
        [backup("chef-a", 1), backup("chef-b", 3)],
        NOW,
        settings(),
        {},
    )

    fresh, late = report.compliance
    assert (fresh.compliant, fresh.reasons) == (True, [])
    assert (late.compliant, late.catching_up) == (False, None)
    assert late.reasons == [f"run {RUN}: {waiting}"]
