"""One local cloud for every end-to-end test: the synthesized stack's runtime pieces in moto
(its state machines running their synthesized definitions), the emulator behind them, and the
function's environment as synthesized. A module says what it needs in `CLOUD` (a `Setup`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from backup_orchestrator.contract.settings import get_settings
from local.cloud import MACHINES, LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.faults import PollTime
from tests.support.stack import stack_in_moto


@dataclass(frozen=True)
class Setup:
    """What a module's tests need of the local cloud. Each poll of a backup is a minute of its
    life (a backup takes two); `server_polls` makes each poll of a server a minute too."""

    machines: tuple[str, ...] = MACHINES
    server_polls: bool = False
    restore_seconds: int | None = None
    server_seconds: int | None = None
    # The function's DRILL_DEADLINE_SECONDS, when a module's drills need a short one.
    drill_deadline_seconds: int | None = None


@pytest.fixture
def cloud(
    request: pytest.FixtureRequest,
    emulator: Emulator,
    clock: ManualClock,
    template_json: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LocalCloud]:
    setup: Setup = getattr(request.module, "CLOUD", Setup())
    if setup.server_polls:
        emulator.faults.append(PollTime(emulator, clock, 60, on="server"))
    if setup.restore_seconds is not None:
        emulator.config.restore_seconds = setup.restore_seconds
    if setup.server_seconds is not None:
        emulator.config.server_seconds = setup.server_seconds
    with stack_in_moto(emulator, clock, template_json, monkeypatch, setup.machines) as local:
        if setup.drill_deadline_seconds is not None:
            monkeypatch.setenv("DRILL_DEADLINE_SECONDS", str(setup.drill_deadline_seconds))
            get_settings.cache_clear()
        yield local
