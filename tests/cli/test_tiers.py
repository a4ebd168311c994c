"""Retention tiers in owcm-backup, against the emulator: `status` and `plan` give each server's
own good backups by tier and its tiers, `status` says how many backups await adoption and how
much of the limit they hold, and `--retention` asks a run for tiers."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.ownership import RUN_TAG, TIER_TAG
from backup_orchestrator.domain.tiers import Tier
from local.emulator import Emulator, ManualClock
from local.emulator.errors import AccessDeniedException, ServiceError
from local.fleet import add_own_backup
from owcm_backup.main import main
from tests.support.fleet import mutating_calls

RETENTION_TAG = "opsworks-cm-backup:retention"


@pytest.fixture
def tiered(fleet: Emulator, clock: ManualClock) -> dict[str, str]:
    """chef-prod keeps `daily:2 weekly:2` and has a monthly, a weekly and two daily backups of
    its own, two more made before the product tagged its backups (dailies: one adopted since,
    one awaiting adoption), a failed weekly and one made by hand (neither counted by tier)."""
    backend, now = fleet.backend, clock.now()
    backend.servers["chef-prod"].tags[RETENTION_TAG] = "daily:2 weekly:2"

    def own(days: float, tier: Tier = Tier.DAILY, **extra: Any) -> str:
        created = now - timedelta(days=days)
        return add_own_backup(backend, "chef-prod", created, tier=tier, **extra).backup_id

    made = {
        "monthly": own(20, Tier.MONTHLY),
        "weekly": own(10, Tier.WEEKLY),
        "daily": own(1),
        "older": own(2),
        "adopted": own(3.5, tagged=False),
        "untagged": own(5, tagged=False),
        "failed": own(4, Tier.WEEKLY, status="FAILED"),
    }
    adopted = backend.backups[made["adopted"]]
    adopted.tags = {RUN_TAG: marker.run_of(adopted.description) or "", TIER_TAG: "daily"}
    backend.add_backup("chef-prod", now - timedelta(days=6), description="by hand")
    return made


def cells(out: str, server: str) -> dict[str, str]:
    """The row of `server` in the table whose header starts with SERVER, by column."""
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("SERVER "))
    row = next(line for line in lines[lines.index(header) :] if line.startswith(f"{server} "))
    names = [n for n in header.split("  ") if n]
    starts = [header.index(n) for n in names]
    ends = [*starts[1:], None]
    return {n: row[s:e].strip() for n, s, e in zip(names, starts, ends, strict=True)}


def backups_read(fleet: Emulator) -> set[str]:
    """The backups whose tags were read."""
    arns = {b.arn: b.backup_id for b in fleet.backend.backups.values()}
    calls = fleet.calls_to("ListTagsForResource")
    return {arns[c.params["ResourceArn"]] for c in calls if c.params["ResourceArn"] in arns}


def test_status_shows_tiers_backups_by_tier_and_what_awaits_adoption(
    tiered: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0

    out = capsys.readouterr().out
    chef, puppet = cells(out, "chef-prod"), cells(out, "puppet-prod")
    assert (chef["RETAIN"], chef["BACKUPS (M/W/D)"]) == ("daily:2 weekly:2", "1/1/4")
    # A server keeping the daily tier alone shows its number, as before tiers.
    assert (puppet["RETAIN"], puppet["BACKUPS (M/W/D)"]) == ("1", "0/0/2")
    assert cells(out, "chef-busy")["BACKUPS (M/W/D)"] == "0/0/0"
    assert (
        "Awaiting adoption: 1 backup (1 of 50 of the limit); `owcm-backup adopt` tags those it "
        "can prove"
    ) in out
    # Only the backups whose marker has no tier had their tags read.
    assert backups_read(fleet) == {tiered["untagged"], tiered["adopted"]}
    assert mutating_calls(fleet) == []


def test_status_json_gives_tiers_backups_by_tier_and_those_awaiting_adoption(
    tiered: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 0

    body = json.loads(capsys.readouterr().out)
    by_name = {s["serverName"]: s for s in body["servers"]}
    chef, puppet = by_name["chef-prod"], by_name["puppet-prod"]
    assert (chef["retain"], chef["retention"]) == (4, "daily:2 weekly:2")
    assert chef["backupsByTier"] == {"monthly": 1, "weekly": 1, "daily": 4}
    assert (puppet["retain"], puppet["retention"]) == (1, "daily:1")
    assert body["awaitingAdoption"] == {
        "backups": [tiered["untagged"]],
        "limitHeld": "1 of 50",
        "unread": [],
    }


def test_status_says_when_the_tags_of_a_backup_awaiting_adoption_cannot_be_read(
    tiered: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    denied = fleet.backend.backups[tiered["untagged"]].arn

    def deny(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "ListTagsForResource" and params["ResourceArn"] == denied:
            return AccessDeniedException("not allowed")
        return None

    fleet.faults.append(deny)

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Awaiting adoption" not in out
    assert "Tags not read: 1 backups with this product's marker without a tier" in out
    assert main(["status", "--json"]) == 0
    [unread] = json.loads(capsys.readouterr().out)["awaitingAdoption"]["unread"]
    assert unread["backupId"] == tiered["untagged"]
    assert "AccessDeniedException: not allowed" in unread["error"]


def test_plan_shows_backups_by_tier_and_keeps_what_awaits_adoption(
    tiered: dict[str, str], fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--servers", "chef-prod"]) == 0

    out = capsys.readouterr().out
    chef = cells(out, "chef-prod")
    assert (chef["RETAIN"], chef["BACKUPS (M/W/D)"]) == ("daily:2 weekly:2", "1/1/4")
    # The weekly and the monthly are kept; the older daily goes, and the one awaiting adoption,
    # beyond retention too, is kept and said so.
    deletions = out[out.index("Retention and room") : out.index("Kept, not proven")]
    assert tiered["older"] in deletions and tiered["adopted"] in deletions
    assert tiered["weekly"] not in deletions and tiered["monthly"] not in deletions
    kept = out[out.index("Kept, not proven") :]
    assert tiered["untagged"] in kept
    assert "Awaiting adoption: 1 backup (1 of 50 of the limit)" in kept

    assert main(["plan", "--json", "--servers", "chef-prod"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backupsByTier"] == {"chef-prod": {"monthly": 1, "weekly": 1, "daily": 4}}
    assert mutating_calls(fleet) == []


@pytest.mark.parametrize("command", ["plan", "run"])
def test_retention_asks_the_run_for_tiers(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code = main([command, "--json", "--servers", "chef-prod", "--retention", "daily:3 weekly:2"])

    [result] = json.loads(capsys.readouterr().out)["results"]
    assert code == 0
    assert (result["retain"]["tiersAsked"], result["retain"]["asked"]) == ("daily:3 weekly:2", 5)
    assert mutating_calls(fleet) == ([] if command == "plan" else ["CreateBackup"])
