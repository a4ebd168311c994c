"""The service adapter against the emulator: changes whose answer was lost, refusals that are
results, waiting for room on a service that still counts backups being deleted, and the service's
clock read from the Date of its answers (or this machine's, when that Date cannot be read)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from backup_orchestrator.aws.errors import OutcomeUnknown
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from local.emulator import Emulator, ManualClock
from local.emulator.errors import InternalFailure, ServiceError
from local.emulator.faults import LostResponses, PollTime

QUICK = RetryPolicy(attempts=4, base_seconds=0.001, cap_seconds=0.001)


class FakeTime:
    """A monotonic clock that only moves when the adapter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def service(opsworkscm: Any) -> OpsWorksCM:
    return OpsWorksCM(opsworkscm, QUICK)


def old_backup(emulator: Emulator, clock: ManualClock) -> str:
    """chef-1, with a manual backup of a day ago."""
    emulator.backend.add_server("chef-1")
    return emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=1)).backup_id


def test_a_deletion_whose_answer_was_lost_is_recognised_as_done(
    emulator: Emulator, clock: ManualClock, service: OpsWorksCM
) -> None:
    backup_id = old_backup(emulator, clock)
    emulator.faults.append(LostResponses(emulator, 1.0, seed=1, operations=["DeleteBackup"]))

    assert service.delete_backup(backup_id) is True
    assert emulator.backend.backups[backup_id].status == "DELETING"


def test_a_backup_somebody_else_is_deleting_is_not_this_runs_deletion(
    emulator: Emulator, clock: ManualClock, service: OpsWorksCM
) -> None:
    backup_id = old_backup(emulator, clock)
    emulator.backend.op_delete_backup({"BackupId": backup_id}, "someone")

    assert service.delete_backup(backup_id) is False


def test_a_backup_in_progress_is_a_refusal_not_a_deletion(
    emulator: Emulator, service: OpsWorksCM, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    running = opsworkscm.create_backup(ServerName="chef-1")["Backup"]["BackupId"]

    with pytest.raises(ClientError, match="IN_PROGRESS"):
        service.delete_backup(running)
    assert emulator.backend.backups[running].status == "IN_PROGRESS"


def test_a_backup_started_by_an_attempt_whose_answer_was_lost_is_returned(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-1")
    emulator.faults.append(LostResponses(emulator, 1.0, seed=2, operations=["CreateBackup"]))

    backup = service.create_backup("chef-1", "[opsworks-cm-backup run=manual-abc] x")

    assert [b.backup_id for b in emulator.backend.backups.values()] == [backup.backup_id]
    assert backup.status == "IN_PROGRESS"


def test_a_lost_answer_with_no_backup_to_find_is_the_error(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-1")

    def always_500(operation: str, params: dict[str, Any]) -> ServiceError | None:
        return InternalFailure("injected") if operation == "CreateBackup" else None

    emulator.faults.append(always_500)

    with pytest.raises(ClientError, match="InternalFailure"):
        service.create_backup("chef-1", "[opsworks-cm-backup run=manual-abc] x")
    assert len(emulator.calls_to("CreateBackup")) == QUICK.attempts


def test_when_even_the_check_fails_the_outcome_is_unknown(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-1")

    def outage(operation: str, params: dict[str, Any]) -> ServiceError | None:
        return InternalFailure("injected")

    emulator.faults.append(outage)

    with pytest.raises(OutcomeUnknown, match="whether it took effect is unknown"):
        service.create_backup("chef-1", "[opsworks-cm-backup run=manual-abc] x")


def test_waits_for_room_while_deletions_still_count(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    # Given a full account whose one backup is being deleted (30 s) and still counts, and 10 s
    # of the account's time passing at every look at the quota
    emulator.config.manual_backup_limit = 1
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 30
    backup_id = old_backup(emulator, clock)
    emulator.backend.op_delete_backup({"BackupId": backup_id}, "run")
    emulator.faults.append(PollTime(emulator, clock, 10, on="quota"))
    time = FakeTime()
    service = OpsWorksCM(opsworkscm, QUICK, sleep=time.sleep, monotonic=lambda: time.now)

    # When a backup is started, willing to wait a minute
    backup = service.create_backup("chef-1", "d", room_within=lambda: 60.0)

    # Then it waited (backing off) until the deletion was gone, and started
    assert backup.status == "IN_PROGRESS"
    assert time.slept == [1.0, 2.0, 4.0]
    assert [c.error for c in emulator.calls_to("CreateBackup")] == ["LimitExceededException", None]


def test_gives_up_waiting_for_room_when_the_time_is_spent(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.config.manual_backup_limit = 1
    old_backup(emulator, clock)
    time = FakeTime()
    service = OpsWorksCM(opsworkscm, QUICK, sleep=time.sleep, monotonic=lambda: time.now)

    with pytest.raises(ClientError, match="LimitExceededException"):
        service.create_backup("chef-1", "d", room_within=lambda: 10.0)

    assert time.slept == [1.0, 2.0, 4.0]
    assert time.now <= 10


def test_does_not_wait_when_told_there_is_nothing_to_wait_for(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.config.manual_backup_limit = 1
    old_backup(emulator, clock)
    time = FakeTime()
    service = OpsWorksCM(opsworkscm, QUICK, sleep=time.sleep, monotonic=lambda: time.now)

    with pytest.raises(ClientError, match="LimitExceededException"):
        service.create_backup("chef-1", "d")

    assert time.slept == []
    assert len(emulator.calls_to("DescribeAccountAttributes")) == 0


# What a network may make of the Date of the service's answers, given the service's: none of
# these tells the time for sure.
UNREADABLE_DATES: dict[str, Callable[[str], str | None]] = {
    "zone-less": lambda date: date.replace("GMT", "-0000"),
    "sent twice": lambda date: f"{date}, {date}",
    "sent twice, disagreeing": lambda date: f"{date}, Thu, 01 Jan 2026 00:00:00 GMT",
    "unparsable": lambda _date: "yesterday at noon",
    "missing": lambda _date: None,
}
FALLBACK = "service clock unreadable: using this machine's"


def fallbacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == FALLBACK]


@pytest.mark.parametrize("rewrite", UNREADABLE_DATES.values(), ids=UNREADABLE_DATES.keys())
def test_a_date_that_tells_no_time_gives_this_machines_clock_and_one_warning(
    emulator: Emulator,
    clock: ManualClock,
    service: OpsWorksCM,
    caplog: pytest.LogCaptureFixture,
    rewrite: Callable[[str], str | None],
) -> None:
    emulator.backend.add_server("chef-1")
    emulator.date_header = rewrite
    sent = rewrite(format_datetime(clock.now(), usegmt=True))

    with caplog.at_level(logging.WARNING):
        before = datetime.now(UTC)
        service.servers()
        service.backups()
        service.manual_backup_quota()
        now = service.now()
        after = datetime.now(UTC)

    # This machine's time, the time since counted on the monotonic clock, in UTC.
    assert now.tzinfo is UTC
    assert before - timedelta(seconds=1) <= now <= after + timedelta(seconds=1)
    [warning] = fallbacks(caplog)
    assert warning.levelno == logging.WARNING
    assert warning.__dict__["date_header"] == sent


def test_each_adapter_says_once_that_it_fell_back(
    emulator: Emulator, opsworkscm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.date_header = UNREADABLE_DATES["zone-less"]

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            service = OpsWorksCM(opsworkscm, QUICK)
            service.servers()
            service.servers()

    assert len(fallbacks(caplog)) == 2


@pytest.mark.parametrize(
    "zone", [None, UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]
)
def test_a_date_with_a_zone_is_the_services_time_in_utc(
    emulator: Emulator,
    clock: ManualClock,
    opsworkscm: Any,
    caplog: pytest.LogCaptureFixture,
    zone: timezone | None,
) -> None:
    # None: the Date as the service sends it ("... GMT"); otherwise the same time in `zone`.
    if zone is not None:
        emulator.date_header = lambda _date: format_datetime(clock.now().astimezone(zone))
    time = FakeTime()
    service = OpsWorksCM(opsworkscm, QUICK, sleep=time.sleep, monotonic=lambda: time.now)

    with caplog.at_level(logging.WARNING):
        service.servers()
        time.now += 90
        now = service.now()

    assert now == clock.now() + timedelta(seconds=90)
    assert now.tzinfo is UTC
    assert fallbacks(caplog) == []
