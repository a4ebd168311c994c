"""The synthesized definitions (the tracker's and the restore drill's) checked by asl-validator,
the Amazon States Language validator, with the virtualenv's Node.js (both installed by
`make venv`), and the retries and catches every definition relies on.

Neither state machine calls OpsWorks CM itself: each asks a function of its own
(infra/constructs/task_function.py), which calls the service through the project's adapter and
ends in a named error of the contract (contract/task_errors.py) the definition catches; a task
is retried only on what can pass (contract RETRIED)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.limits import (
    RETRIED,
    TASK_RETRIES,
    NameTaken,
    NoFreeSlot,
    ServerChanging,
    ServerNotFound,
)
from backup_orchestrator.run.drill_tasks import ACTIONS, drill_task
from infra.constructs.task_function import HANG_MARGIN_SECONDS
from local.cloud import MACHINES, LocalCloud
from tests.support.stack import definition, lambda_function

VENV = Path(sys.executable).parent.parent
NODE = VENV / "bin" / "node"
ASL_VALIDATOR = VENV / "asl" / "node_modules" / "asl-validator" / "dist" / "bin"
ASL_VALIDATOR /= "asl-validator.js"


SNAPSHOTS = Path(__file__).parent / "snapshots"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


@pytest.mark.parametrize("kind", MACHINES)
def test_the_definition_is_the_reviewed_one(template_json: dict[str, Any], kind: str) -> None:
    # Every state, path, retry and catch, as reviewed: a change to a definition shows here as a
    # diff to read and commit (UPDATE_SNAPSHOTS=1 rewrites the file), and the tests below, in
    # test_tracker_e2e.py and in test_drill_e2e.py say whether it still behaves.
    synthesized = definition(template_json, kind)
    snapshot = SNAPSHOTS / f"{kind.lower()}-definition.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(synthesized, indent=2, sort_keys=True) + "\n")

    assert synthesized == json.loads(snapshot.read_text())


def asl_validate(definitions: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Validate the definitions in one run of asl-validator."""
    assert ASL_VALIDATOR.is_file(), f"{ASL_VALIDATOR} is missing: run `make venv`"
    arguments = []
    for number, text in enumerate(definitions):
        path = tmp_path / f"definition-{number}.json"
        path.write_text(text)
        arguments += ["--json-path", str(path)]
    return subprocess.run(
        [str(NODE), str(ASL_VALIDATOR), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def deployed_definition(template_json: dict[str, Any], kind: str = "Tracker") -> str:
    """The definition with every CloudFormation reference replaced by an ARN of its kind."""
    cloud = LocalCloud(template_json)
    for logical, resource in template_json["Resources"].items():
        service = resource["Type"].split("::")[1].lower()
        cloud.physical[logical] = f"arn:aws:{service}:us-east-1:123456789012:{logical}"
    return cloud.definition(kind)


def test_asl_validator_accepts_the_definitions(
    template_json: dict[str, Any], tmp_path: Path
) -> None:
    result = asl_validate([deployed_definition(template_json, k) for k in MACHINES], tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(
    template_json: dict[str, Any], tmp_path: Path
) -> None:
    broken = json.loads(deployed_definition(template_json))
    assert "Next" in broken["States"]["NotFollowed"]
    broken["States"]["NotFollowed"]["Next"] = "NoSuchState"

    result = asl_validate(
        [deployed_definition(template_json, "Drill"), json.dumps(broken)], tmp_path
    )

    assert result.returncode != 0
    assert "NoSuchState" in result.stdout + result.stderr


def every_state(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition (or of a Map's processor or a Parallel's branch), those
    nested in Maps and Parallels included, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states["States"].items():
        found[name] = state
        for inner in ("ItemProcessor", "Iterator"):
            if inner in state:
                found.update(every_state(state[inner]))
        for branch in state.get("Branches", []):
            found.update(every_state(branch))
    return found


def sdk_calls_to_opsworks_cm(parsed: dict[str, Any]) -> list[str]:
    """The states, at any depth, that call OpsWorks CM through Step Functions' SDK integration."""
    return sorted(
        name
        for name, state in every_state(parsed).items()
        if "aws-sdk:opsworkscm" in str(state.get("Resource", ""))
    )


@pytest.mark.parametrize("kind", MACHINES)
def test_no_state_calls_opsworks_cm_through_the_sdk_integration(
    template_json: dict[str, Any], kind: str
) -> None:
    # The state machines' functions call it, through the adapter (its model, pacing, retries).
    parsed = definition(template_json, kind)

    assert sdk_calls_to_opsworks_cm(parsed) == []
    assert "aws-sdk:opsworkscm" not in json.dumps(parsed)


def test_a_nested_sdk_call_to_opsworks_cm_is_found(template_json: dict[str, Any]) -> None:
    planted = copy.deepcopy(definition(template_json))
    call = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:opsworkscm:describeBackups",
        "End": True,
    }
    inner = {"StartAt": "Describe", "States": {"Describe": call}}
    planted["States"]["Each"] = {"Type": "Map", "ItemProcessor": inner, "End": True}
    planted["States"]["Both"] = {"Type": "Parallel", "Branches": [inner], "End": True}

    assert sdk_calls_to_opsworks_cm(planted) == ["Describe"]
    planted["States"]["Each"]["ItemProcessor"] = {
        "StartAt": "Deep",
        "States": {"Deep": {"Type": "Map", "Iterator": inner, "End": True}},
    }
    del planted["States"]["Both"]
    assert sdk_calls_to_opsworks_cm(planted) == ["Describe"]


# An intrinsic function's call, in a field's value.
INTRINSIC = re.compile(r"States\.[A-Za-z]+\(")
# Step Functions accepts at most 10 intrinsic functions in one field.
MAX_INTRINSICS = 10


def string_fields(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every string value of a definition, at any depth, with its path."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from string_fields(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for number, inner in enumerate(value):
            yield from string_fields(inner, f"{path}[{number}]")
    elif isinstance(value, str):
        yield path, value


def intrinsics(parsed: dict[str, Any]) -> dict[str, int]:
    """How many intrinsic functions (`States.Format(`, `States.ArrayGetItem(`, ...) each string
    field holds, by path, for those that hold any."""
    counted = {path: len(INTRINSIC.findall(text)) for path, text in string_fields(parsed)}
    return {path: count for path, count in counted.items() if count}


def crowded(parsed: dict[str, Any]) -> dict[str, int]:
    """The fields holding more intrinsic functions than Step Functions accepts."""
    return {path: count for path, count in intrinsics(parsed).items() if count > MAX_INTRINSICS}


@pytest.mark.parametrize("kind", MACHINES)
def test_no_field_holds_more_than_ten_intrinsic_functions(
    template_json: dict[str, Any], kind: str
) -> None:
    parsed = definition(template_json, kind)

    assert crowded(parsed) == {}
    # The walk reaches the fields that do hold some (NotFollowed's alert, the drill's lines).
    assert max(intrinsics(parsed).values()) >= 2


def nested_calls(count: int) -> str:
    """One field value holding `count` intrinsic functions, nested."""
    inner = ", ".join(["States.MathAdd($.polls, 1)"] * (count - 1))
    return f"States.Array({inner})"


def test_a_field_with_eleven_intrinsic_functions_is_found(template_json: dict[str, Any]) -> None:
    planted = copy.deepcopy(definition(template_json, "Drill"))
    parameters = planted["States"]["CountSlots"]["Parameters"]
    parameters["deep"] = {"list": [{"eleven.$": nested_calls(11)}, {"ten.$": nested_calls(10)}]}

    assert crowded(planted) == {"$.States.CountSlots.Parameters.deep.list[0].eleven.$": 11}
    assert intrinsics(planted)["$.States.CountSlots.Parameters.deep.list[1].ten.$"] == 10


# The states that ask each state machine's function, and the error names its catches may use:
# the contract's named errors, and States.ALL.
LAMBDA_TASKS = {
    "Tracker": {"Poll"},
    "Drill": {
        "CheckSource",
        "CheckSlots",
        "CreateDrillServer",
        "CheckDrillServer",
        "TakenFindOwner",
        "CleanupFindOwner",
        "DeleteDrillServer",
        "ConfirmGone",
    },
}
CAUGHT = {e.__name__ for e in (ServerNotFound, NameTaken, NoFreeSlot, ServerChanging)}


@pytest.mark.parametrize("kind", MACHINES)
def test_every_lambda_task_asks_its_own_function_and_retries_only_what_can_pass(
    template_json: dict[str, Any], kind: str
) -> None:
    states = every_state(definition(template_json, kind))
    invokes = {n: s for n, s in states.items() if "lambda" in str(s.get("Resource", ""))}
    function, resource = lambda_function(template_json, kind)
    timeout = resource["Properties"]["Timeout"]

    assert set(invokes) == LAMBDA_TASKS[kind]
    for name, state in invokes.items():
        assert state["Resource"] == LAMBDA_INVOKE, name
        assert state["Parameters"]["FunctionName"] == function, name
        [retry] = state["Retry"]
        assert retry["ErrorEquals"] == list(RETRIED), name
        assert retry["MaxAttempts"] == TASK_RETRIES, name
        assert (retry["BackoffRate"], retry["JitterStrategy"]) == (2, "FULL"), name
        assert (retry["IntervalSeconds"], retry["MaxDelaySeconds"]) == (2, 60), name
        # Longer than the function may run: a hung invocation times out and is tried again.
        assert state["TimeoutSeconds"] == timeout + HANG_MARGIN_SECONDS, name
        assert HANG_MARGIN_SECONDS > 0
        caught = {e for c in state.get("Catch", []) for e in c["ErrorEquals"]}
        assert caught <= CAUGHT | {"States.ALL"}, name


@pytest.mark.parametrize("kind", MACHINES)
def test_no_retry_or_catch_names_an_error_of_the_sdk_integration(
    template_json: dict[str, Any], kind: str
) -> None:
    states = every_state(definition(template_json, kind))
    named = [
        (name, error)
        for name, state in states.items()
        for rule in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in rule["ErrorEquals"]
        if error.startswith("OpsWorksCm.")
    ]

    assert named == []
    assert [s for s in states.values() if s.get("Retry")]


# What each of the drill's tasks asks its function (run/drill_tasks.py ACTIONS).
ACTIONS_OF = {
    "CheckSource": "status",
    "CheckDrillServer": "status",
    "ConfirmGone": "status",
    "CheckSlots": "slots",
    "CreateDrillServer": "create",
    "TakenFindOwner": "owner",
    "CleanupFindOwner": "owner",
    "DeleteDrillServer": "delete",
}


def test_the_drill_asks_its_function_only_what_it_does(template_json: dict[str, Any]) -> None:
    # Every action the definition asks is one the function answers, and each is asked.
    states = every_state(definition(template_json, "Drill"))
    asked = {
        name: state["Parameters"]["Payload"]["action"]
        for name, state in states.items()
        if state.get("Resource") == LAMBDA_INVOKE
    }

    assert asked == ACTIONS_OF
    assert set(asked.values()) == set(ACTIONS)


def test_a_poll_that_fails_after_its_retries_still_alerts(template_json: dict[str, Any]) -> None:
    # A backup that cannot be followed is never silent: the alert says which, and the execution
    # fails.
    states = every_state(definition(template_json))

    assert states["Poll"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Next": "NotFollowed", "ResultPath": "$.error"}
    ]
    assert states["NotFollowed"]["Next"] == "NotAllFollowed"
    assert states["NotAllFollowed"]["Next"] == "Alert"
    assert (states["NotAllFollowed"]["Result"], states["NotAllFollowed"]["ResultPath"]) == (
        True,
        "$.failed",
    )
    assert states["Alert"]["Retry"][0]["ErrorEquals"] == ["States.TaskFailed"]


def test_no_metric_can_fail_a_drill(template_json: dict[str, Any]) -> None:
    # A metric that cannot be recorded is skipped.
    states = every_state(definition(template_json, "Drill"))
    best_effort = {
        n: s
        for n, s in states.items()
        if s.get("Resource", "").endswith("cloudwatch:putMetricData")
    }

    assert len(best_effort) == 4
    for name, state in best_effort.items():
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        assert state["Retry"], name
    assert states["Alert"]["Retry"][0]["ErrorEquals"] == ["States.TaskFailed"]


def test_a_skipped_metric_or_record_goes_on_where_the_recorded_one_would(
    template_json: dict[str, Any],
) -> None:
    # Skipping must never end the drill early: the record, the alert and the failure of a drill
    # that needs attention come after the metrics and the record.
    states = every_state(definition(template_json, "Drill"))
    skipped = {n: s for n, s in states.items() if n.endswith("Skipped")}

    assert set(skipped) == {
        "RecordSuccessSkipped",
        "RecordRecoveryTimeSkipped",
        "RecordFailureSkipped",
        "RecordCleanupFailureSkipped",
        "RememberDrillSkipped",
    }
    for name, state in skipped.items():
        task = states[name.removesuffix("Skipped")]
        assert [c["Next"] for c in task["Catch"]] == [name]
        assert "End" not in state and state["Next"] == task["Next"], name


def test_every_error_of_a_drill_goes_through_its_cleanup(template_json: dict[str, Any]) -> None:
    # Before the cleanup, each call catches every error (States.ALL) into a result whose next
    # state is the cleanup (which first proves the server the drill's: CleanupFindOwner); the
    # cleanup's own calls catch theirs into CleanupRefused (the reason in its line); the record
    # and the metrics are best effort. Only a server proved the drill's is deleted.
    states = every_state(definition(template_json, "Drill"))
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and n != "Alert"}
    cleanup = {"CleanupFindOwner", "DeleteDrillServer", "ConfirmGone"}

    for name, state in tasks.items():
        [last] = [c for c in state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        if name in cleanup:
            assert last["Next"] == "CleanupRefused", name
        elif name.startswith(("Record", "Remember")):
            assert last["Next"] == f"{name}Skipped", name
        else:
            assert states[last["Next"]]["Next"] == "CleanupFindOwner", name
    for name, state in states.items():
        if state["Type"] == "Pass" and state.get("ResultPath") == "$.result":
            assert state["Next"] == "CleanupFindOwner", name
    deletes = [n for n, s in states.items() if s.get("Next") == "DeleteDrillServer"]
    choices = [
        n
        for n, s in states.items()
        if "DeleteDrillServer" in [s.get("Default"), *(c.get("Next") for c in s.get("Choices", []))]
    ]
    # DeleteDrillServer follows the proof of ownership, and asking again within the cleanup.
    assert deletes == [] and sorted(choices) == ["CleanupIsOurs", "Gone"]
    owned = states["CleanupIsOurs"]["Choices"]
    assert owned == [
        {"Variable": "$.owner.ours", "BooleanEquals": True, "Next": "DeleteDrillServer"}
    ]
    # The proof: the function reads the server's tag for this very execution.
    find = states["CleanupFindOwner"]
    assert find["Next"] == "CleanupIsOurs"
    assert find["Parameters"]["Payload"] == {
        "action": "owner",
        "serverName.$": "$.drillServer",
        "execution.$": "$$.Execution.Id",
    }
    assert (find["ResultSelector"], find["ResultPath"]) == ({"ours.$": "$.Payload.ours"}, "$.owner")
    assert states["DeleteDrillServer"]["Parameters"]["Payload"] == {
        "action": "delete",
        "serverName.$": "$.drillServer",
    }


class Creating:
    """Just enough of the adapter for the drill function's `create`: what it was asked."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_server(self, parameters: dict[str, Any], *, ours: Any = None) -> None:
        self.created.append(dict(parameters))


def test_a_drill_server_never_gets_automated_backups_or_the_sources_domain(
    template_json: dict[str, Any],
) -> None:
    # The definition hands the input's `create` to the function as it is; whatever it says, the
    # server is created without automated backups of its own, and without the source's domain
    # (the drill would answer for it).
    states = every_state(definition(template_json, "Drill"))
    payload = states["CreateDrillServer"]["Parameters"]["Payload"]
    assert payload == {"action": "create", "create.$": "$.create", "execution.$": "$$.Execution.Id"}
    given = {
        "ServerName": "drill-chef-a",
        "BackupId": "chef-a-1",
        "DisableAutomatedBackup": False,
        "CustomDomain": "chef.example.com",
        "KeyPair": "ops",
    }
    service = Creating()

    drill_task(
        {"action": "create", "create": given, "execution": "arn:execution"},
        cast(OpsWorksCM, service),
    )

    [created] = service.created
    assert created["DisableAutomatedBackup"] is True
    assert "CustomDomain" not in created
    assert (created["ServerName"], created["KeyPair"]) == ("drill-chef-a", "ops")
