"""The tracker's synthesized definition checked by asl-validator, the Amazon States Language
validator, with the virtualenv's Node.js (both installed by `make venv`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from backup_orchestrator.tracker import TASK_RETRIES
from infra.tasks import RETRYABLE
from local.cloud import LocalCloud
from tests.infra.conftest import definition

VENV = Path(sys.executable).parent.parent
NODE = VENV / "bin" / "node"
ASL_VALIDATOR = VENV / "asl" / "node_modules" / "asl-validator" / "dist" / "bin"
ASL_VALIDATOR /= "asl-validator.js"


def asl_validate(definition: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert ASL_VALIDATOR.is_file(), f"{ASL_VALIDATOR} is missing: run `make venv`"
    path = tmp_path / "definition.json"
    path.write_text(definition)
    return subprocess.run(
        [str(NODE), str(ASL_VALIDATOR), "--json-path", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def deployed_definition(template_json: dict[str, Any]) -> str:
    """The definition with every CloudFormation reference replaced by an ARN of its kind."""
    cloud = LocalCloud(template_json)
    for logical, resource in template_json["Resources"].items():
        service = resource["Type"].split("::")[1].lower()
        cloud.physical[logical] = f"arn:aws:{service}:us-east-1:123456789012:{logical}"
    return cloud.definition()


def test_asl_validator_accepts_the_tracker_definition(
    template_json: dict[str, Any], tmp_path: Path
) -> None:
    result = asl_validate(deployed_definition(template_json), tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(
    template_json: dict[str, Any], tmp_path: Path
) -> None:
    broken = json.loads(deployed_definition(template_json))
    broken["States"]["Summarize"]["Next"] = "NoSuchState"

    result = asl_validate(json.dumps(broken), tmp_path)

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


def test_every_call_to_the_service_rides_out_throttling_and_transient_faults(
    template_json: dict[str, Any],
) -> None:
    states = every_state(definition(template_json))
    calls = {n: s for n, s in states.items() if "aws-sdk:opsworkscm:" in s.get("Resource", "")}

    assert set(calls) == {"DescribeBackup", "DeleteBackup"}
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
