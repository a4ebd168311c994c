"""The synthesized definitions (the tracker's and the restore drill's) checked by asl-validator,
the Amazon States Language validator, with the virtualenv's Node.js (both installed by
`make venv`), and the retries and catches every definition relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backup_orchestrator.domain.history_budget import TASK_RETRIES
from infra.constructs.state_machines import RETRYABLE
from local.cloud import MACHINES, LocalCloud
from tests.support.stack import definition

VENV = Path(sys.executable).parent.parent
NODE = VENV / "bin" / "node"
ASL_VALIDATOR = VENV / "asl" / "node_modules" / "asl-validator" / "dist" / "bin"
ASL_VALIDATOR /= "asl-validator.js"


SNAPSHOTS = Path(__file__).parent / "snapshots"


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
    broken["States"]["Summarize"]["Next"] = "NoSuchState"

    result = asl_validate(
        [deployed_definition(template_json, "Drill"), json.dumps(broken)], tmp_path
    )

    assert result.returncode != 0
    assert "NoSuchState" in result.stdout + result.stderr


def every_state(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition, the Maps' item processors included, by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states["States"].items():
        found[name] = state
        if "ItemProcessor" in state:
            found.update(every_state(state["ItemProcessor"]))
    return found


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("Tracker", {"DescribeBackup", "DeleteBackup"}),
        (
            "Drill",
            {
                "CheckSource",
                "CheckSlots",
                "CreateDrillServer",
                "CreateDrillServerWithKeyPair",
                "CheckDrillServer",
                "TakenFindServer",
                "TakenReadTags",
                "CleanupFindServer",
                "CleanupReadTags",
                "DeleteDrillServer",
                "ConfirmGone",
            },
        ),
    ],
)
def test_every_call_to_the_service_rides_out_throttling_and_transient_faults(
    template_json: dict[str, Any], kind: str, expected: set[str]
) -> None:
    states = every_state(definition(template_json, kind))
    calls = {n: s for n, s in states.items() if "aws-sdk:opsworkscm:" in s.get("Resource", "")}

    assert set(calls) == expected
    for name, state in calls.items():
        [retry] = state["Retry"]
        assert set(retry["ErrorEquals"]) == set(RETRYABLE), name
        assert retry["MaxAttempts"] == TASK_RETRIES, name
        assert (retry["BackoffRate"], retry["JitterStrategy"]) == (2, "FULL"), name
        assert (retry["IntervalSeconds"], retry["MaxDelaySeconds"]) == (2, 60), name


def test_no_metric_or_deletion_can_fail_a_backup(template_json: dict[str, Any]) -> None:
    # A metric that cannot be recorded is skipped; a deletion the service refuses is noted.
    states = every_state(definition(template_json))
    best_effort = {
        n: s
        for n, s in states.items()
        if s.get("Resource", "").endswith(("cloudwatch:putMetricData", "opsworkscm:deleteBackup"))
    }

    assert len(best_effort) == 5
    for name, state in best_effort.items():
        assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
        assert state["Retry"], name
    assert states["Alert"]["Retry"][0]["ErrorEquals"] == ["States.TaskFailed"]


def test_every_error_of_a_drill_goes_through_its_cleanup(template_json: dict[str, Any]) -> None:
    # Before the cleanup, each call catches every error (States.ALL) into a result whose next
    # state is the cleanup (which first proves the server the drill's: CleanupFindServer); the
    # cleanup's own calls catch theirs into CleanupFailed; the record and the metrics are best
    # effort. Only a server proved the drill's is deleted.
    states = every_state(definition(template_json, "Drill"))
    tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and n != "Alert"}
    cleanup = {"CleanupFindServer", "CleanupReadTags", "DeleteDrillServer", "ConfirmGone"}

    for name, state in tasks.items():
        [last] = [c for c in state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        if name in cleanup:
            assert last["Next"] == "CleanupFailed", name
        elif name.startswith(("Record", "Remember")):
            assert last["Next"] == f"{name}Skipped", name
        else:
            assert states[last["Next"]]["Next"] == "CleanupFindServer", name
    for name, state in states.items():
        if state["Type"] == "Pass" and state.get("ResultPath") == "$.result":
            assert state["Next"] == "CleanupFindServer", name
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
    assert states["CleanupCompareOwner"]["Parameters"] == {
        "ours.$": "States.ArrayContains($.owner.tagged.Tags[*].Value, $$.Execution.Id)"
    }
    create = states["CreateDrillServer"]["Parameters"]
    assert create["DisableAutomatedBackup"] is True
    assert "KeyPair.$" not in create and "CustomDomain.$" not in create
