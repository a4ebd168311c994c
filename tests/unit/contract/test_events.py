"""Event validation: every field, every way it can be wrong, named in the error."""

from __future__ import annotations

from typing import Any

import pytest

from backup_orchestrator.contract.events import InvalidRequestError, parse_event
from backup_orchestrator.domain.tiers import Retention


def test_scheduled_event_names_the_run_after_its_slot() -> None:
    request = parse_event(
        {"source": "schedule", "scheduledTime": "2026-01-05T03:00:00+01:00"}, request_id="r-1"
    )

    assert request.scheduled
    assert request.run_id == "scheduled-20260105T020000Z"
    assert request.idempotency_key == request.run_id
    assert not request.dry_run


def test_the_same_slot_delivered_twice_has_one_key() -> None:
    event = {"source": "schedule", "scheduledTime": "2026-01-05T02:00:00Z"}

    first = parse_event(event, request_id="a")
    second = parse_event(event, request_id="b")

    assert first.idempotency_key == second.idempotency_key


def test_manual_event_with_every_field() -> None:
    request = parse_event(
        {
            "servers": ["chef-prod", "puppet-1"],
            "dryRun": True,
            "retain": 5,
            "description": "pre-upgrade",
        },
        request_id="0f8e-11aa",
    )

    assert request.servers == ("chef-prod", "puppet-1")
    assert (request.dry_run, request.retention, request.description) == (
        True,
        Retention(daily=5),
        "pre-upgrade",
    )
    assert request.run_id == "manual-0f8e11aa"
    assert request.idempotency_key == "manual-0f8e-11aa"


def test_a_retried_invocation_keeps_its_run_id() -> None:
    # Lambda delivers a retry of an invocation with the same request id: the retry must find the
    # backups the first attempt started, by the run id in their description.
    request_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

    first = parse_event({"servers": ["chef-prod"]}, request_id=request_id)
    retry = parse_event({"servers": ["chef-prod"]}, request_id=request_id)
    other = parse_event({"servers": ["chef-prod"]}, request_id="9b2d")

    assert first.run_id == retry.run_id == "manual-7c9e6679742540de944be07fc1f90ae7"
    assert other.run_id != first.run_id


@pytest.mark.parametrize(
    ("event", "dry_run"),
    [
        # What `aws lambda invoke` sends without --payload: harmless, it only reports.
        ({}, True),
        ({"retain": 3, "description": "x"}, True),
        ({"servers": None}, True),
        # The whole tagged fleet is backed up only when the event says so.
        ({"dryRun": False}, False),
        ({"servers": ["chef-prod"]}, False),
        ({"servers": ["chef-prod"], "dryRun": True}, True),
        ({"dryRun": True}, True),
    ],
)
def test_a_manual_event_naming_no_servers_is_a_dry_run_unless_it_says_otherwise(
    event: dict[str, Any], dry_run: bool
) -> None:
    request = parse_event(event, request_id="x")

    assert request.dry_run is dry_run
    assert request.servers == (tuple(event["servers"]) if event.get("servers") else None)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"servers": []}, "servers"),
        ({"servers": "chef-prod"}, "servers"),
        ({"servers": ["chef prod"]}, "servers"),
        ({"servers": ["9lives"]}, "servers"),
        ({"servers": ["a" * 41]}, "servers"),
        ({"servers": ["chef", "chef"]}, "servers"),
        ({"servers": [7]}, "servers.0"),
        ({"dryRun": "yes"}, "dryRun"),
        ({"dryRun": 1}, "dryRun"),
        ({"dryRun": None}, "dryRun"),
        ({"retain": 0}, "retain"),
        ({"retain": 50}, "retain"),
        ({"retain": "5"}, "retain"),
        ({"retain": 2.5}, "retain"),
        ({"retain": True}, "retain"),
        ({"description": "x" * 257}, "description"),
        ({"description": "two\nlines"}, "description"),
        ({"description": 5}, "description"),
        ({"server": ["chef-prod"]}, "server"),
        ({"dry_run": True}, "dry_run"),
        ({"source": "schedule"}, "scheduledTime"),
        ({"source": "cron", "scheduledTime": "2026-01-05T02:00:00Z"}, "source"),
        ({"source": "schedule", "scheduledTime": "yesterday"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "2026-01-05T02:00:00"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "2026-01-05T02:00:00Z", "dryRun": True}, "dryRun"),
        ({"source": "schedule", "scheduledTime": "0001-01-01T00:30:00+01:00"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "9999-12-31T23:30:00-01:00"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "0001-01-01T00:00:00Z"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "9999-12-31T23:59:59Z"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "2015-12-31T23:59:59Z"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "2100-01-01T00:00:00Z"}, "scheduledTime"),
    ],
)
def test_invalid_event_names_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        parse_event(event, request_id="x")

    assert f"field '{field}'" in str(excinfo.value)


@pytest.mark.parametrize(
    "slot", ["2016-01-01T00:00:00Z", "2099-12-31T23:59:59Z", "2016-01-01T01:00:00+01:00"]
)
def test_slots_at_the_edges_of_the_sane_range_are_accepted(slot: str) -> None:
    request = parse_event({"source": "schedule", "scheduledTime": slot}, request_id="x")

    assert request.run_id.startswith("scheduled-20")


def test_an_invocation_without_a_usable_request_id_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="request id"):
        parse_event({}, request_id="--")


@pytest.mark.parametrize("event", [None, [], "run", 5])
def test_event_must_be_an_object(event: Any) -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        parse_event(event, request_id="x")


RETRY = {"source": "retry", "scheduledTime": "2026-01-05T02:00:00Z", "attempt": 2}


def test_a_retry_names_the_servers_waiting_for_room_among_those_it_is_for() -> None:
    request = parse_event(
        {**RETRY, "servers": ["chef-a", "chef-busy"], "waitingForRoom": ["chef-a"]},
        request_id="x",
    )

    assert (request.retrying, request.waiting_for_room) == (("chef-a", "chef-busy"), ("chef-a",))
    # Without the field (a try scheduled for busy servers only), nobody waits for room.
    assert parse_event({**RETRY, "servers": ["chef-busy"]}, request_id="x").waiting_for_room == ()


@pytest.mark.parametrize(
    ("waiting", "said"),
    [
        (["chef-b"], "'chef-b' is not one of the servers the retry is for"),
        (["9lives"], "is not an OpsWorks CM server name"),
        (["chef-a", "chef-a"], "a server is named more than once"),
        ("chef-a", "valid list"),
    ],
)
def test_a_retry_waiting_for_room_for_a_server_it_is_not_for_is_refused(
    waiting: object, said: str
) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        parse_event({**RETRY, "servers": ["chef-a"], "waitingForRoom": waiting}, request_id="x")

    assert "field 'waitingForRoom': " in str(excinfo.value)
    assert said in str(excinfo.value)
