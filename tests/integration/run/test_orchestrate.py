"""What the function's settings and the event say reaches the plan, through the handler: the prune
scope, the servers a retry of the slot is about, whether busy servers are tried again, and that a
later try of the slot says the server stayed busy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, tag

SLOT = "2026-01-05T12:00:00Z"
SCHEDULED = {"source": "schedule", "scheduledTime": SLOT}
RETRY_ROLE = "arn:aws:iam::123456789012:role/opsworks-cm-backup-retry"


def outcomes(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["serverName"]: (r["outcome"], r["reason"]) for r in report["results"]}


@pytest.mark.parametrize(("scope", "pruned"), [("own", False), ("all-manual", True)])
def test_the_prune_scope_reaches_the_plan(
    emulator: Emulator, cloud: Cloud, monkeypatch: pytest.MonkeyPatch, scope: str, pruned: bool
) -> None:
    monkeypatch.setenv("PRUNE_SCOPE", scope)
    monkeypatch.setenv("RETENTION", "daily:1")
    get_settings.cache_clear()
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    own = add_own_backup(emulator, "chef-a", 2)
    by_hand = emulator.backend.add_backup(
        "chef-a", emulator.backend.clock.now() - timedelta(days=3), description="before upgrade"
    ).backup_id

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    [result] = report["results"]
    deferred = {d["backupId"] for d in result["deferredDeletes"]}
    assert deferred == ({own, by_hand} if pruned else {own})


def test_a_retry_of_the_slot_backs_up_only_the_servers_it_retries(
    emulator: Emulator, cloud: Cloud
) -> None:
    for name in ("chef-a", "chef-b"):
        emulator.backend.add_server(name)
        tag(emulator, name)
    retry = {"source": "retry", "scheduledTime": SLOT, "attempt": 1, "servers": ["chef-b"]}

    report = lambda_handler(retry, FakeLambdaContext())

    assert [r["serverName"] for r in report["results"]] == ["chef-b"]
    assert report["results"][0]["outcome"] == "STARTED"


@pytest.mark.parametrize(("retries", "outcome"), [(True, "RETRYING"), (False, "FAILED")])
def test_a_busy_server_is_tried_again_only_when_the_slot_can_retry(
    emulator: Emulator,
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
    retries: bool,
    outcome: str,
) -> None:
    if retries:
        monkeypatch.setenv("RETRY_ROLE_ARN", RETRY_ROLE)
        get_settings.cache_clear()
    emulator.backend.add_server("chef-a", status="UNDER_MAINTENANCE", busy_seconds=600)
    tag(emulator, "chef-a")

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    got, reason = outcomes(report)["chef-a"]
    assert got == outcome
    # The slot's own run never says the server stayed busy at every try: it was the first.
    assert "at every try" not in reason


def test_the_last_try_of_the_slot_says_the_server_stayed_busy(
    emulator: Emulator, cloud: Cloud
) -> None:
    # A retry of the slot that cannot schedule another (no retry role here): the last try.
    emulator.backend.add_server("chef-a", status="UNDER_MAINTENANCE", busy_seconds=600)
    tag(emulator, "chef-a")
    retry = {"source": "retry", "scheduledTime": SLOT, "attempt": 1, "servers": ["chef-a"]}

    report = lambda_handler(retry, FakeLambdaContext())

    got, reason = outcomes(report)["chef-a"]
    assert got == "FAILED"
    assert reason.startswith(
        "not backed up: the server is UNDER_MAINTENANCE at every try of the slot's retry window"
    )
