"""Event validation: every field, every way it can be wrong, named in the error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backup_orchestrator.events import InvalidRequestError, parse_event

NOW = datetime(2026, 1, 5, 12, 30, 15, tzinfo=UTC)


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
        now=NOW,
    )

    assert request.servers == ("chef-prod", "puppet-1")
    assert (request.dry_run, request.retain, request.description) == (True, 5, "pre-upgrade")
    assert request.run_id == "manual-20260105T123015Z-0f8e11aa"
    assert request.idempotency_key == "manual-0f8e-11aa"


def test_empty_manual_event_runs_over_tagged_servers() -> None:
    request = parse_event({}, request_id="x", now=NOW)

    assert (request.servers, request.dry_run, request.retain) == (None, False, None)


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
    ],
)
def test_invalid_event_names_the_field(event: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        parse_event(event, request_id="x", now=NOW)

    assert f"field '{field}'" in str(excinfo.value)


@pytest.mark.parametrize("event", [None, [], "run", 5])
def test_event_must_be_an_object(event: Any) -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        parse_event(event, request_id="x")
