"""make demo, end to end: every demo case is visible in what a person reads."""

from __future__ import annotations

import io
import os
import re
from unittest.mock import patch

from local.demo import run_demo
from local.fleet import FLEETS_DIR


def test_demo_shows_every_case() -> None:
    out = io.StringIO()

    # The demo sets the function's environment in its process: not for the tests that follow.
    with patch.dict(os.environ):
        facts = run_demo(FLEETS_DIR / "demo.json", out)

    text = out.getvalue()
    outcomes = {r["serverName"]: r["outcome"] for r in facts["report"]["results"]}
    assert outcomes == {
        "chef-prod": "STARTED",
        "puppet-prod": "STARTED",
        "puppet-flaky": "STARTED",
        "chef-busy": "RETRYING",
    }
    # The busy server is tried again in its slot, once its maintenance is over.
    retry = facts["retry"]
    assert {r["serverName"]: r["outcome"] for r in retry["results"]} == {"chef-busy": "STARTED"}
    assert retry["runId"] == facts["report"]["runId"]
    assert "[7/8] Trying the busy servers again at" in text
    assert "[5/8] Following the tracker state machine" in text
    # chef-prod is drilled weekly: its run starts a drill, which restores its newest good
    # backup, is measured, and deletes its server.
    assert "[6/8] Following the restore drill of chef-prod" in text
    drill = facts["drill"]
    assert (drill["result"]["outcome"], drill["cleanup"]["confirmed"]) == ("OK", True)
    assert drill["drillServer"] not in facts["servers"]
    assert f"Restore drill of chef-prod: STARTED, due: restoring backup {drill['backupId']}" in text
    assert "recovery point: backup chef-prod-" in text and "1.0 days old when restored" in text
    polls = drill["result"]["seconds"] // drill["pollSeconds"]
    assert polls >= 1
    assert f"recovery time:  OK after {polls} polls of the new server" in text
    assert f"reports {polls} x 60 s as RestoreDrillSeconds" in text
    assert "chef-busy     RETRYING" in text and "UNDER_MAINTENANCE" in text
    rpo = text[text.index("Recovery point objectives") :]
    assert "chef-busy" in rpo and "COMPLIANT" in rpo
    assert "Not selected (no tag opsworks-cm-backup=enabled): chef-sandbox" in text
    # Retention tiers: chef-prod keeps monthly, weekly and daily backups; puppet-prod keeps its
    # weekly backup (its oldest) while the dailies newer than it, beyond daily:2, go.
    assert "daily:4 weekly:2 monthly:2" in text and "daily:2 weekly:2" in text
    puppet = next(r for r in facts["report"]["results"] if r["serverName"] == "puppet-prod")
    weekly = min(b for b in facts["final"] if b.startswith("puppet-prod-"))
    gone = [d["backupId"] for d in puppet["deferredDeletes"]]
    assert facts["final"][weekly] == "OK"
    assert len(gone) == 2 and all(b > weekly and b not in facts["final"] for b in gone)
    # A backup made before the product tagged its backups: kept, and awaiting adoption.
    kept = text[text.index("Kept, not proven the product's") :]
    assert "puppet-prod-" in kept.splitlines()[2]
    assert "Awaiting adoption: 1 backup (1 of 22 of the limit)" in kept
    assert "deleted now to make room" in text
    assert "Retention applied by the tracker after the new backups were OK: puppet-prod-" in text
    assert "Manual-backup quota: 21/22 before, 21/22 after (3 manual backups were made" in text
    orphans = text[text.index("Backups of deleted servers") :].split("\n\n")[0]
    assert orphans.count("chef-legacy-") == 2 and "this product" in orphans
    assert "Tracker execution: FAILED" in text
    assert "Alerts published to the SNS topic: 1" in text
    assert "puppet-flaky: backup puppet-flaky-" in text and "ended FAILED" in text
    finals = {
        r["serverName"]: facts["final"][r["backupId"]]
        for r in facts["report"]["results"]
        if r["backupId"]
    }
    assert finals == {"chef-prod": "OK", "puppet-prod": "OK", "puppet-flaky": "FAILED"}
    # What the operator CLI says afterwards: each server's backups by tier, and what awaits
    # adoption, which `adopt` would tag.
    status = facts["operator"]["status"]
    chef = next(line for line in status.splitlines() if line.startswith("chef-prod "))
    assert "daily:4 weekly:2 monthly:2  29 h" in chef
    # Monthly, weekly and daily backups, in counts that depend on the day the demo runs (the
    # tier of the run's own backup is decided by today's date).
    assert "BACKUPS (M/W/D)" in status
    by_tier = re.search(r"  (\d+)/(\d+)/(\d+)  ", chef)
    assert by_tier is not None and all(int(count) >= 1 for count in by_tier.groups()), chef
    assert "Awaiting adoption: 1 backup (1 of 22 of the limit)" in status
    assert "WOULD_TAG" in facts["operator"]["adopt"]
    assert "\n$ owcm-backup status\n" in text and "\n$ owcm-backup adopt\n" in text
