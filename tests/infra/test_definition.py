"""The tracker's synthesized definition checked by asl-validator, the Amazon States Language
validator, with the virtualenv's Node.js (both installed by `make venv`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from local.cloud import LocalCloud

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
