"""The drill's execution history against Step Functions' quota of 25,000 events: the figures a
drill's poll interval is chosen with (drill_servers.py), measured on the synthesized definition in
moto (the longest path: test_drill_e2e.py's drill whose server cannot be deleted), and the worst
case at the extremes of what the configuration accepts."""

from __future__ import annotations

from typing import Any

import pytest

from backup_orchestrator.domain.history_budget import (
    DRILL_EVENTS,
    HISTORY_BUDGET,
    REDELETE_EVENTS,
    drill_history,
    drill_poll_seconds,
    drill_polls,
)
from backup_orchestrator.domain.history_budget import DRILL_POLL_EVENTS as POLL_EVENTS
from infra.config import Config
from local.cloud import LocalCloud
from local.emulator import Emulator
from local.emulator.errors import InvalidStateException, ServiceError
from tests.e2e.test_drill import CLOUD, chef, drill, history
from tests.e2e.test_tracker_history import bounds

__all__ = ["CLOUD", "chef"]  # the drill tests' cloud, and their fixture


def refusing(operation: str, times: int, error: type[ServiceError]) -> Any:
    """A fault: the first `times` calls to `operation` are refused with `error`."""
    refused: list[str] = []

    def fault(called: str, params: dict[str, Any]) -> ServiceError | None:
        if called == operation and len(refused) < times:
            refused.append(called)
            return error("refused")
        return None

    return fault


def test_asking_again_to_delete_adds_a_poll_and_a_deletion(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    _, plain = drill(cloud, emulator)
    emulator.backend.add_server("chef-b")
    emulator.backend.add_backup("chef-b", emulator.backend.clock.now())
    # The first DeleteServer finds the server still changing; the drill looks and asks again.
    emulator.faults.append(refusing("DeleteServer", 1, InvalidStateException))

    _, again = drill(cloud, emulator, source="chef-b")

    assert again["status"] == plain["status"] == "SUCCEEDED"
    assert len(history(again)) == len(history(plain)) + POLL_EVENTS + REDELETE_EVENTS
    assert len(history(again)) <= DRILL_EVENTS + history(again).count("WaitStateEntered") * (
        POLL_EVENTS + REDELETE_EVENTS
    )


def extremes() -> list[tuple[int, int]]:
    """(pollSeconds, drillDeadlineSeconds) at the corners of what the configuration accepts,
    and the defaults."""
    polls, deadlines = bounds("poll_seconds"), bounds("drill_deadline_seconds")
    return [(p, d) for p in polls for d in deadlines] + [(60, 7200)]


@pytest.mark.parametrize(("poll_seconds", "deadline_seconds"), extremes())
def test_the_worst_case_of_every_drill_fits_the_quota(
    poll_seconds: int, deadline_seconds: int
) -> None:
    Config.model_validate({"pollSeconds": poll_seconds, "drillDeadlineSeconds": deadline_seconds})

    poll = drill_poll_seconds(deadline_seconds, poll_seconds)

    assert poll >= poll_seconds
    assert drill_history(drill_polls(deadline_seconds, poll)) <= HISTORY_BUDGET
    if (poll_seconds, deadline_seconds) == (60, 7200):
        assert poll == 60  # at the defaults a drill polls like the tracker
