"""The drill's calls (drill_tasks.py) against the emulator through the real adapter: each task's
answer, the named errors the drill state machine catches, and what a drill may never do (create
a server with automated backups, or call a server its own without this execution's tag)."""

from __future__ import annotations

from typing import Any

import pytest

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.contract.task_errors import (
    BadTaskInput,
    NameTaken,
    NoFreeSlot,
    ServerChanging,
    ServerNotFound,
    ServiceError,
)
from backup_orchestrator.domain.drill_servers import DRILL_EXECUTION
from backup_orchestrator.run.drill_tasks import drill_task
from local.emulator import Emulator, ManualClock
from local.emulator.errors import (
    AccessDeniedException,
    InvalidStateException,
)
from local.emulator.errors import (
    ServiceError as Refusal,
)
from local.emulator.faults import LostResponses

QUICK = RetryPolicy(attempts=2, base_seconds=0, cap_seconds=0)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:drill:scheduled-1-chef-a"


@pytest.fixture
def service(opsworkscm: Any) -> OpsWorksCM:
    return OpsWorksCM(opsworkscm, QUICK)


def create_input(emulator: Emulator, name: str = "drill-chef-a-1", **extra: Any) -> dict[str, Any]:
    """A drill's `create` for a backup of chef-a, as the orchestrator builds it."""
    emulator.backend.add_server("chef-a")
    backup = emulator.backend.add_backup("chef-a", emulator.backend.clock.now()).backup_id
    source = emulator.backend.servers["chef-a"]
    return {
        "Engine": source.engine,
        "EngineModel": source.engine_model,
        "EngineVersion": source.engine_version,
        "InstanceType": source.instance_type,
        "InstanceProfileArn": source.instance_profile_arn,
        "ServiceRoleArn": source.service_role_arn,
        "ServerName": name,
        "BackupId": backup,
        "Tags": [{"Key": DRILL_EXECUTION, "Value": EXECUTION}],
        **extra,
    }


def test_status_of_a_server_and_of_none(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.backend.add_server("chef-a", status="UNHEALTHY")

    assert drill_task({"action": "status", "serverName": "chef-a"}, service) == {
        "status": "UNHEALTHY",
        "reasons": [],
    }
    with pytest.raises(ServerNotFound):
        drill_task({"action": "status", "serverName": "chef-gone"}, service)


def test_slots_are_the_account_s_server_limit(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.config.server_limit = 3
    emulator.backend.add_server("chef-a")

    assert drill_task({"action": "slots"}, service) == {"used": 1, "maximum": 3}


def test_create_never_asks_for_automated_backups_and_copies_only_what_a_drill_copies(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    given = create_input(emulator, DisableAutomatedBackup=False, CustomDomain="chef.example.com")

    answer = drill_task({"action": "create", "create": given, "execution": EXECUTION}, service)

    assert answer == {"created": True}
    [call] = [c.params for c in emulator.calls if c.operation == "CreateServer"]
    assert call["DisableAutomatedBackup"] is True
    assert "CustomDomain" not in call


def test_create_names_the_service_s_refusals(emulator: Emulator, service: OpsWorksCM) -> None:
    given = create_input(emulator)
    drill_task({"action": "create", "create": given, "execution": EXECUTION}, service)

    with pytest.raises(NameTaken):
        drill_task({"action": "create", "create": given, "execution": EXECUTION}, service)
    emulator.config.server_limit = len(emulator.backend.servers)
    with pytest.raises(NoFreeSlot):
        drill_task(
            {
                "action": "create",
                "create": {**given, "ServerName": "drill-b"},
                "execution": EXECUTION,
            },
            service,
        )


def test_a_lost_answer_counts_as_created_only_with_this_execution_s_tag(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    ours = create_input(emulator, "drill-ours")
    other = {**ours, "ServerName": "drill-other", "Tags": [{"Key": DRILL_EXECUTION, "Value": "x"}]}
    emulator.faults.append(LostResponses(emulator, 1.0, seed=1, operations=("CreateServer",)))

    assert drill_task({"action": "create", "create": ours, "execution": EXECUTION}, service) == {
        "created": True
    }
    # The server is there, but does not carry this execution: not the drill's; the name is
    # taken (the state machine then leaves that server alone).
    with pytest.raises(NameTaken):
        drill_task({"action": "create", "create": other, "execution": EXECUTION}, service)


def test_owner_is_this_execution_s_tag_and_nothing_else(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("drill-ours", tags={DRILL_EXECUTION: EXECUTION})
    emulator.backend.add_server("drill-theirs", tags={DRILL_EXECUTION: EXECUTION + "-2"})
    emulator.backend.add_server("drill-bare")

    def owner(name: str) -> Any:
        return drill_task({"action": "owner", "serverName": name, "execution": EXECUTION}, service)

    assert owner("drill-ours") == {"ours": True}
    assert owner("drill-theirs") == {"ours": False}
    assert owner("drill-bare") == {"ours": False}
    with pytest.raises(ServerNotFound):
        owner("drill-gone")


def test_delete_starts_once_and_names_a_server_still_changing(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    emulator.backend.add_server("drill-a")

    assert drill_task({"action": "delete", "serverName": "drill-a"}, service) == {"started": True}
    assert drill_task({"action": "delete", "serverName": "drill-a"}, service) == {"started": False}

    def changing(operation: str, params: dict[str, Any]) -> Refusal | None:
        return InvalidStateException("still creating") if operation == "DeleteServer" else None

    emulator.backend.add_server("drill-b")
    emulator.faults.append(changing)
    with pytest.raises(ServerChanging):
        drill_task({"action": "delete", "serverName": "drill-b"}, service)


def test_any_other_refusal_is_a_service_error(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.faults.append(lambda operation, params: AccessDeniedException("not allowed"))

    with pytest.raises(ServiceError, match="AccessDeniedException: not allowed"):
        drill_task({"action": "slots"}, service)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"action": "reboot"}, "action"),
        ({}, "action"),
        ({"action": "status"}, "serverName"),
        ({"action": "owner", "serverName": "x"}, "execution"),
        ({"action": "create", "execution": EXECUTION}, "create"),
    ],
)
def test_bad_input_names_the_field_and_calls_nothing(
    emulator: Emulator, service: OpsWorksCM, event: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadTaskInput, match=field):
        drill_task(event, service)
    assert emulator.calls == []
