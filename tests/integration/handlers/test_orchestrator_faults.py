"""The handler when the fleet or the service misbehaves mid run: servers that vanish or change
state, the function's time running out, throttling, an answer lost after its backup started, and
answers whose Date tells no time."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from backup_orchestrator.aws.pacing import TokenBucket
from backup_orchestrator.handlers import orchestrator as handler
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.errors import InternalFailure, ServiceError
from local.emulator.faults import DeniedAsNotFound
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, mutating_calls, tag
from tests.support.invoking import SCHEDULED, results


def test_server_gone_mid_run_does_not_stop_the_others(emulator: Emulator, cloud: Cloud) -> None:
    for name in ("chef-a", "chef-b", "chef-c"):
        emulator.backend.add_server(name)
    tag(emulator, "chef-a", "chef-b", "chef-c")

    def delete_chef_b(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup" and params["ServerName"] == "chef-b":
            emulator.backend.remove_server("chef-b")
        return None

    emulator.faults.append(delete_chef_b)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    outcomes = {name: r["outcome"] for name, r in results(report).items()}
    assert outcomes == {"chef-a": "STARTED", "chef-b": "SKIPPED", "chef-c": "STARTED"}
    assert "no longer exists" in results(report)["chef-b"]["reason"]
    assert len(cloud.tracker_inputs()[0]["backups"]) == 2


def test_server_changing_state_mid_run_fails_with_the_reason(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    def maintenance(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup":
            emulator.backend.set_server_status("chef-a", "UNDER_MAINTENANCE")
        return None

    emulator.faults.append(maintenance)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert results(report)["chef-a"]["outcome"] == "FAILED"
    assert "changed state" in results(report)["chef-a"]["reason"]
    assert cloud.executions() == []


def test_close_to_the_timeout_starts_nothing_new(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=5_000))

    assert results(report)["chef-a"]["outcome"] == "FAILED"
    assert "time limit" in results(report)["chef-a"]["reason"]
    assert mutating_calls(emulator) == []


def test_throttling_storm_fails_no_call(emulator: Emulator, cloud: Cloud) -> None:
    emulator.config.server_limit = 12
    names = [f"chef-{i:02d}" for i in range(12)]
    for name in names:
        emulator.backend.add_server(name)
    tag(emulator, *names)
    answered = 0

    def every_other_call_throttled(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal answered
        answered += 1
        if answered % 2:
            from local.emulator.errors import ThrottlingException

            return ThrottlingException("Rate exceeded")
        return None

    emulator.faults.append(every_other_call_throttled)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert {r["outcome"] for r in report["results"]} == {"STARTED"}
    throttled = [c for c in emulator.calls if c.error == "ThrottlingException"]
    assert len(throttled) >= len(names)
    assert all(c.error in (None, "ThrottlingException") for c in emulator.calls)


@pytest.mark.usefixtures("paced")
def test_twenty_servers_at_the_default_rate_limit_fail_no_call(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.bucket = TokenBucket(rate=5, burst=10)  # the service's documented limit
    emulator.config.server_limit = 20
    for i in range(20):
        emulator.backend.add_server(f"srv-{i:02d}", tags={"opsworks-cm-backup": "enabled"})

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert [r["outcome"] for r in report["results"]] == ["STARTED"] * 20
    assert [c for c in emulator.calls if c.error] == []
    assert len(emulator.calls) == 3 + 20 + 20 + 1


def test_backup_started_by_an_attempt_that_seemed_to_fail_is_kept(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    first = True

    def lost_response(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal first
        if operation == "CreateBackup" and first:
            first = False
            with emulator.backend.lock:
                emulator.backend.op_create_backup(params, "caller")
            return InternalFailure("the response was lost")
        return None

    emulator.faults.append(lost_response)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-a"]
    assert result["outcome"] == "STARTED"
    assert result["backupId"] in emulator.backend.backups
    assert len(emulator.backend.backups) == 1
    assert cloud.tracker_inputs()[0]["backups"][0]["backupId"] == result["backupId"]


def test_a_date_without_a_zone_is_this_machines_time_and_said_once(
    emulator: Emulator, cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server with an earlier backup (the compliance step measures its age) and a
    # service whose every answer is dated "-0000", zone unknown
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    add_own_backup(emulator, "chef-a", days_ago=3)
    emulator.date_header = lambda date: date.replace("GMT", "-0000")
    log_stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", log_stream)

    # When a scheduled run goes by
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then it backs up and judges the server as usual, on this machine's clock, and says so once
    assert results(report)["chef-a"]["outcome"] == "STARTED"
    assert [c["serverName"] for c in report["compliance"]] == ["chef-a"]
    logged = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    said = "service clock unreadable: using this machine's"
    [fallback] = [e for e in logged if e["message"] == said]
    assert fallback["level"] == "WARNING"
    assert fallback["date_header"] == "Mon, 05 Jan 2026 12:00:00 -0000"


@pytest.mark.parametrize("denied", ["ListTagsForResource", "CreateBackup"])
def test_a_server_denied_as_not_found_fails_with_the_reason_and_is_counted(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str], denied: str
) -> None:
    # A policy denies one action on chef-a and the service answers "not found" (safety rule 16):
    # the account still lists chef-a, so it is not skipped as gone: it fails, said and alarmed.
    for name in ("chef-a", "chef-b"):
        emulator.backend.add_server(name)
    tag(emulator, "chef-a", "chef-b")
    emulator.faults.append(DeniedAsNotFound(emulator, [denied], ["chef-a"]))
    capsys.readouterr()

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    chef_a = results(report)["chef-a"]
    assert chef_a["outcome"] == "FAILED"
    assert f"ResourceNotFoundException to {denied}" in chef_a["reason"]
    assert "access may be denied" in chef_a["reason"]
    assert results(report)["chef-b"]["outcome"] == "STARTED"
    assert "chef-a" in {c["serverName"] for c in report["compliance"]}
    documents = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert [d["AccessDeniedAnswers"] for d in documents if "AccessDeniedAnswers" in d] == [[1.0]]


def test_a_server_truly_gone_before_its_backup_is_still_skipped(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    def vanish(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup":
            emulator.backend.remove_server("chef-a")
        return None

    emulator.faults.append(vanish)
    capsys.readouterr()

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert results(report)["chef-a"]["outcome"] == "SKIPPED"
    assert "AccessDeniedAnswers" not in capsys.readouterr().out


def test_a_deletion_to_make_room_denied_as_not_found_is_not_counted_done(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # The account is full: chef-a's oldest backup must go first, and a policy denies its
    # DeleteBackup with "not found" (safety rule 16): it is not taken as deleted, the warning
    # says why, and nothing is created past the limit.
    emulator.config.manual_backup_limit = 2
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a", **{"opsworks-cm-backup:retain": "1"})
    older, old = (add_own_backup(emulator, "chef-a", days) for days in (3, 2))
    emulator.faults.append(DeniedAsNotFound(emulator, ["DeleteBackup"], [older, old]))
    capsys.readouterr()

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    chef_a = results(report)["chef-a"]
    assert (chef_a["outcome"], chef_a["deleted"]) == ("FAILED", [])
    assert any("access may be denied" in w for w in chef_a["warnings"])
    assert {emulator.backend.backups[b].status for b in (older, old)} == {"OK"}
    assert len(emulator.backend.backups) == 2  # never past the limit
    assert "AccessDeniedAnswers" in capsys.readouterr().out
