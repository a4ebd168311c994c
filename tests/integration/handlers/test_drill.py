"""The drill's function through its handler against the emulator: an answer per task, and the
named error of each refusal (Step Functions names a task's error after the exception's class)."""

from __future__ import annotations

import pytest

from backup_orchestrator.contract.task_errors import BadTaskInput, ServerNotFound
from backup_orchestrator.handlers.drill import lambda_handler
from local.emulator import Emulator
from tests.conftest import FakeLambdaContext


def test_a_task_is_answered_through_the_adapter(emulator: Emulator) -> None:
    emulator.backend.add_server("chef-a")

    answer = lambda_handler({"action": "status", "serverName": "chef-a"}, FakeLambdaContext())

    assert answer == {"status": "HEALTHY", "reasons": []}
    assert [c.operation for c in emulator.calls] == ["DescribeServers"]


def test_a_missing_server_is_the_error_the_definition_catches(emulator: Emulator) -> None:
    with pytest.raises(ServerNotFound) as raised:
        lambda_handler({"action": "status", "serverName": "chef-x"}, FakeLambdaContext())

    assert type(raised.value).__name__ == "ServerNotFound"


def test_an_unknown_action_is_refused_before_any_call(emulator: Emulator) -> None:
    with pytest.raises(BadTaskInput, match="action must be one of status, slots"):
        lambda_handler({"action": "format-disk"}, FakeLambdaContext())
    assert emulator.calls == []
