"""Compliance against recovery point objectives: what counts, what is late, and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_orchestrator.domain.compliance import (
    RPO_TAG,
    Compliance,
    RunEntry,
    alert,
    evaluate,
    outside,
)
from backup_orchestrator.domain.messages import ALERT_BYTES, REASON_BYTES
from backup_orchestrator.domain.records import Backup, Server
from tests.support.planning import NOW, backup, server
from tests.support.sizes import LONG_REASON, largest_fleet, long_name

HOUR = 3600


def judge(
    servers: list[Server],
    backups: list[Backup],
    *,
    selected: set[str] | None = None,
    count_automated: bool = False,
    history: dict[str, list[RunEntry]] | None = None,
    started: dict[str, str] | None = None,
) -> dict[str, Compliance]:
    """Judge with the default RPO of the default schedule (29 h); every server selected."""
    names = {s.name for s in servers} if selected is None else selected
    judged = evaluate(
        servers,
        names,
        backups,
        NOW,
        default_rpo_hours=29,
        count_automated=count_automated,
        history=history,
        started=started,
    )
    return {c.server_name: c for c in judged}


def test_a_server_whose_newest_good_backup_is_within_its_rpo_is_compliant() -> None:
    made = backup("chef-a", 1)

    [verdict] = judge([server("chef-a")], [made]).values()

    assert verdict.compliant
    assert (verdict.newest_ok, verdict.age_seconds) == (made, 24 * HOUR)
    assert verdict.summary == "newest good backup 24.0 h old, RPO 29 h"
    assert verdict.reasons == ()


def test_at_its_rpo_a_backup_is_still_good_enough_and_a_second_later_it_is_not() -> None:
    on_time = backup("chef-a", 29 / 24)
    late = backup("chef-b", 29 / 24 + 1 / 86_400)

    verdicts = judge([server("chef-a"), server("chef-b")], [on_time, late])

    assert (verdicts["chef-a"].compliant, verdicts["chef-b"].compliant) == (True, False)


def test_only_ok_manual_backups_of_the_server_itself_count() -> None:
    backups = [
        backup("chef-a", 0.5, status="FAILED"),
        backup("chef-a", 0.6, status="IN_PROGRESS", own=False),
        backup("chef-a", 0.7, kind="AUTOMATED"),
        backup("chef-a", 0.8, engine="Puppet"),  # an earlier server of the same name
        backup("chef-a", 3),
    ]

    [verdict] = judge([server("chef-a")], backups).values()

    assert verdict.newest_ok == backups[-1]
    assert not verdict.compliant


def test_automated_backups_count_when_the_setting_says_so() -> None:
    automated = backup("chef-a", 0.5, kind="AUTOMATED")

    [verdict] = judge([server("chef-a")], [automated], count_automated=True).values()

    assert (verdict.compliant, verdict.newest_ok) == (True, automated)


def test_a_backup_made_by_hand_is_a_recovery_point_too() -> None:
    [verdict] = judge([server("chef-a")], [backup("chef-a", 0.5, own=False)]).values()

    assert verdict.compliant


def test_a_new_server_without_a_backup_is_compliant_until_its_rpo_passes() -> None:
    young = server("chef-new", created=NOW - timedelta(hours=5))
    old = server("chef-old", created=NOW - timedelta(hours=30))

    verdicts = judge([young, old], [])

    assert verdicts["chef-new"].compliant
    assert "the server is 5.0 h old, within its RPO (29 h)" in verdicts["chef-new"].summary
    assert not verdicts["chef-old"].compliant
    assert verdicts["chef-old"].summary == "no good backup, RPO 29 h"


@pytest.mark.parametrize(("tag", "rpo"), [("12", 12), ("8760", 8760), ("0", 29), ("x", 29)])
def test_the_rpo_tag_overrides_the_default(tag: str, rpo: int) -> None:
    tagged = server("chef-a", tags={"opsworks-cm-backup": "enabled", RPO_TAG: tag})

    [verdict] = judge([tagged], [backup("chef-a", 0.6)]).values()

    assert verdict.rpo_hours == rpo
    assert verdict.compliant is (rpo > 14.4)
    if tag in ("0", "x"):
        assert any(RPO_TAG in reason for reason in verdict.reasons)


def test_a_late_server_says_why_from_the_account_and_its_last_runs() -> None:
    backups = [
        backup("chef-a", 3),
        backup("chef-a", 2, status="FAILED"),
        backup("chef-a", 1, status="FAILED"),
    ]
    history = {
        "chef-a": [
            RunEntry("scheduled-20260105T020000Z", NOW, "FAILED", "not backed up: no room"),
            RunEntry("scheduled-20260104T020000Z", NOW, "STARTED", "backup started"),
            RunEntry("scheduled-20260103T020000Z", NOW, "RETRYING", "the server is BACKING_UP"),
        ]
    }

    [verdict] = judge([server("chef-a")], backups, history=history).values()

    assert verdict.reasons == (
        f"2 backup(s) since the last good one ended FAILED, the latest {backups[2].backup_id}",
        "run scheduled-20260105T020000Z: not backed up: no room",
        "run scheduled-20260103T020000Z: the server is BACKING_UP",
    )


def test_a_server_no_longer_selected_says_so() -> None:
    [verdict] = judge([server("chef-a")], [backup("chef-a", 5)], selected=set()).values()

    assert (verdict.selected, verdict.compliant) == (False, False)
    assert verdict.reasons[0] == "not selected any more (its selection tag was removed)"


def test_a_late_server_being_backed_up_is_catching_up_and_not_alerted() -> None:
    running = backup("chef-b", 0.01, status="IN_PROGRESS")
    backups = [backup("chef-a", 3), backup("chef-b", 3), running, backup("chef-c", 3)]

    verdicts = judge(
        [server("chef-a"), server("chef-b"), server("chef-c")],
        backups,
        started={"chef-a": "chef-a-new"},
    )

    assert verdicts["chef-a"].catching_up == "chef-a-new"
    assert verdicts["chef-b"].catching_up == running.backup_id
    assert verdicts["chef-c"].catching_up is None
    assert [c.server_name for c in outside(list(verdicts.values()))] == ["chef-c"]
    assert "catching up: backup chef-a-new is in progress" in verdicts["chef-a"].summary


def test_the_alert_names_each_late_server_its_age_and_why() -> None:
    verdicts = judge(
        [server("chef-a"), server("chef-b")],
        [backup("chef-a", 2), backup("chef-b", 0.5)],
        history={"chef-a": [RunEntry("scheduled-1", NOW, "FAILED", "not backed up: no room")]},
    )

    message = alert(list(verdicts.values()), NOW)

    assert message is not None
    subject, text = message
    assert subject == "OpsWorks CM backup: 1 server(s) outside their RPO"
    assert "- chef-a: newest good backup 48.0 h old, RPO 29 h (newest good backup " in text
    assert "    run scheduled-1: not backed up: no room" in text
    assert "chef-b" not in text
    assert alert([verdicts["chef-b"]], NOW) is None


def test_the_alert_about_the_largest_fleet_fits_one_sns_message_and_says_how_many_more() -> None:
    # Given every server of the largest fleet late, its last five runs failed with the
    # service's long words (and this run's reason far longer still)
    servers = [server(long_name(n)) for n in range(largest_fleet())]
    runs = [RunEntry(f"scheduled-2026010{d}T020000Z", NOW, "FAILED", LONG_REASON) for d in range(5)]
    history = {
        s.name: [RunEntry("scheduled-20260105T020000Z", NOW, "FAILED", LONG_REASON * 50), *runs]
        for s in servers
    }
    verdicts = judge(servers, [backup(s.name, 3) for s in servers], history=history)

    # When the alert is written
    message = alert(list(verdicts.values()), NOW)

    # Then it stays within what SNS takes (256 KiB), names the first servers with their reasons
    # (each cut to 1,000 bytes), and says how many more there are and where to see them
    assert message is not None
    subject, text = message
    size = len(text.encode())
    print(f"\ncompliance alert about {len(servers)} late servers: {size:,} bytes")
    assert size <= ALERT_BYTES < 262_144
    assert subject == f"OpsWorks CM backup: {len(servers)} server(s) outside their RPO"
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert 0 < len(listed) < len(servers)
    assert listed[0].startswith(f"- {long_name(0)}: newest good backup 72.0 h old")
    [more] = [line for line in text.splitlines() if line.startswith("... and ")]
    assert more.startswith(f"... and {len(servers) - len(listed)} more server(s) outside their RPO")
    assert "`owcm-backup status`" in more
    reasons = [line for line in text.splitlines() if line.startswith("    run ")]
    assert max(len(line) for line in reasons) <= 4 + REASON_BYTES
    assert text.endswith("`owcm-backup status` shows every server's compliance.")
