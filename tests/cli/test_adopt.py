"""owcm-backup adopt against the emulator: it reads the tags of the backups with the product's
marker without a tier (and of no other backup), tags with --yes only those whose marker and
creation time prove them the product's, says why it leaves the others, and a tag refused is that
backup's row."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.ownership import RUN_TAG, TIER_TAG
from local.emulator import Emulator, ManualClock
from local.emulator.errors import AccessDeniedException, ServiceError
from local.fleet import add_own_backup
from owcm_backup.main import main
from tests.support.fleet import mutating_calls


def _untiered(fleet: Emulator, server: str, run: str, created: Any) -> str:
    """A backup with the product's marker as it was written before tiers (no tier), no tags."""
    text = marker.description(run, "nightly")
    return fleet.backend.add_backup(server, created, description=text).backup_id


@pytest.fixture
def upgraded(fleet: Emulator, clock: ManualClock) -> dict[str, str]:
    """chef-prod's backups from before the product tagged its own: two a scheduled run made
    (one at its slot, one 5 hours after it), one whose creation is 2 days after its marker's slot,
    one of a manual run; and backups that are not candidates: one tagged today, one already
    adopted, one somebody else made."""
    now = clock.now()
    backend = fleet.backend
    at_slot = add_own_backup(backend, "chef-prod", now - timedelta(days=1), tagged=False)
    slot = now - timedelta(days=2)
    later = _untiered(fleet, "chef-prod", marker.scheduled_run_id(slot), slot + timedelta(hours=5))
    old_slot = now - timedelta(days=6)
    late = _untiered(
        fleet, "chef-prod", marker.scheduled_run_id(old_slot), old_slot + timedelta(days=2)
    )
    manual = _untiered(fleet, "chef-prod", "manual-abc123", now - timedelta(days=4.5))
    tagged = add_own_backup(backend, "chef-prod", now - timedelta(days=5)).backup_id
    done = add_own_backup(backend, "chef-prod", now - timedelta(days=7), tagged=False)
    done.tags = {RUN_TAG: marker.run_of(done.description) or "", TIER_TAG: "daily"}
    theirs = backend.add_backup("chef-prod", now - timedelta(days=8), description="by hand")
    return {
        "atSlot": at_slot.backup_id,
        "later": later,
        "late": late,
        "manual": manual,
        "tagged": tagged,
        "done": done.backup_id,
        "theirs": theirs.backup_id,
    }


def _adopt(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, dict[str, Any]]:
    code = main(["adopt", "--json", *flags])
    body = json.loads(capsys.readouterr().out)
    return code, body


def _outcomes(body: dict[str, Any]) -> dict[str, str]:
    return {e["backupId"]: e["outcome"] for e in body["backups"]}


def _read_tags_of(fleet: Emulator) -> set[str]:
    """The backups whose tags were read (by ARN, as ListTagsForResource names them)."""
    arns = {b.arn: b.backup_id for b in fleet.backend.backups.values()}
    calls = fleet.calls_to("ListTagsForResource")
    return {arns[c.params["ResourceArn"]] for c in calls if c.params["ResourceArn"] in arns}


def test_a_dry_run_lists_them_reads_only_their_tags_and_tags_nothing(
    upgraded: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, body = _adopt(capsys)

    assert code == 0
    assert body["dryRun"] is True
    assert _outcomes(body) == {
        upgraded["atSlot"]: "WOULD_TAG",
        upgraded["later"]: "WOULD_TAG",
        upgraded["late"]: "LEFT",
        upgraded["manual"]: "LEFT",
    }
    # One read for each backup whose marker has no tier, and for no other backup.
    candidates = {upgraded[k] for k in ("atSlot", "later", "late", "manual", "done")}
    assert _read_tags_of(fleet) == candidates
    assert len(fleet.calls_to("ListTagsForResource")) == len(candidates)
    assert mutating_calls(fleet) == []
    assert {b.backup_id: b.tags for b in fleet.backend.backups.values()}[upgraded["later"]] == {}


def test_the_table_says_what_it_would_do_and_why_it_leaves_the_others(
    upgraded: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["adopt"]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("chef-prod ")}
    assert "WOULD_TAG" in rows[upgraded["later"]]
    slot = marker.run_of(fleet.backend.backups[upgraded["later"]].description)
    assert f"{RUN_TAG}={slot}, {TIER_TAG}=daily" in rows[upgraded["later"]]
    assert "not within 36 hours after its run's slot" in rows[upgraded["late"]]
    assert "a manual run's marker holds no time" in rows[upgraded["manual"]]
    assert "Dry run, nothing tagged: `owcm-backup adopt --yes` tags the 2 marked WOULD_TAG" in out
    assert mutating_calls(fleet) == []


def test_yes_tags_exactly_the_provable_ones_and_a_run_may_then_prune_them(
    upgraded: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: retention would remove them, but their ownership is not proven: kept.
    main(["plan", "--json", "--servers", "chef-prod", "--retain", "1"])
    before = json.loads(capsys.readouterr().out)["results"][0]
    assert upgraded["later"] in {k["backupId"] for k in before["notProven"]}

    code, body = _adopt(capsys, "--yes")

    assert code == 0
    assert _outcomes(body) == {
        upgraded["atSlot"]: "TAGGED",
        upgraded["later"]: "TAGGED",
        upgraded["late"]: "LEFT",
        upgraded["manual"]: "LEFT",
    }
    tagged = [c.params["ResourceArn"] for c in fleet.calls_to("TagResource")]
    backups = fleet.backend.backups
    assert sorted(tagged) == sorted(backups[upgraded[k]].arn for k in ("atSlot", "later"))
    run = marker.run_of(backups[upgraded["later"]].description)
    assert backups[upgraded["later"]].tags == {RUN_TAG: run, TIER_TAG: "daily"}
    assert backups[upgraded["late"]].tags == backups[upgraded["manual"]].tags == {}
    # Adopted, they are the product's: retention may remove them now. The others stay kept.
    main(["plan", "--json", "--servers", "chef-prod", "--retain", "1"])
    after = json.loads(capsys.readouterr().out)["results"][0]
    going = {d["backupId"] for d in after["deleted"] + after["deferredDeletes"]}
    assert upgraded["later"] in going
    assert {k["backupId"] for k in after["notProven"]} == {upgraded["late"], upgraded["manual"]}
    # A second adoption finds only the ones it left.
    code, again = _adopt(capsys, "--yes")
    assert (code, set(_outcomes(again).values())) == (0, {"LEFT"})


def test_a_tag_refused_is_that_backups_row_and_exit_1(
    upgraded: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = fleet.backend.backups[upgraded["later"]].arn

    def deny(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "TagResource" and params["ResourceArn"] == refused:
            return AccessDeniedException("not allowed to tag this backup")
        return None

    fleet.faults.append(deny)

    code, body = _adopt(capsys, "--yes")

    assert code == 1
    entries = {e["backupId"]: e for e in body["backups"]}
    assert entries[upgraded["later"]]["outcome"] == "REFUSED"
    assert "AccessDeniedException: not allowed to tag" in entries[upgraded["later"]]["reason"]
    assert entries[upgraded["atSlot"]]["outcome"] == "TAGGED"
    assert fleet.backend.backups[upgraded["atSlot"]].tags[RUN_TAG]


def test_a_backup_whose_tags_cannot_be_read_is_never_tagged(
    upgraded: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = fleet.backend.backups[upgraded["atSlot"]].arn

    def deny(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "ListTagsForResource" and params["ResourceArn"] == unknown:
            return AccessDeniedException("not allowed to read these tags")
        return None

    fleet.faults.append(deny)

    code, body = _adopt(capsys, "--yes")

    # It may already carry a run tag: it is that backup's row, refused, and left untagged
    assert code == 1
    entries = {e["backupId"]: e for e in body["backups"]}
    assert entries[upgraded["atSlot"]]["outcome"] == "REFUSED"
    assert "AccessDeniedException: not allowed to read" in entries[upgraded["atSlot"]]["reason"]
    assert fleet.backend.backups[upgraded["atSlot"]].tags == {}
    assert entries[upgraded["later"]]["outcome"] == "TAGGED"


def test_nothing_to_adopt_says_so(fleet: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["adopt", "--yes"]) == 0

    assert capsys.readouterr().out == "No backups await adoption.\n"
    assert mutating_calls(fleet) == []
