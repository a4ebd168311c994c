"""The synthesized stack, built once per test session (offline, cdk-nag included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from local.cloud import LocalCloud, resolve, synthesize


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="session")
def template_json(cdk_out: Path) -> dict[str, Any]:
    return synthesize(outdir=cdk_out)


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


def resources(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == kind}


def only(template_json: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    [(logical, resource)] = resources(template_json, kind).items()
    return logical, resource


def definition(template_json: dict[str, Any]) -> dict[str, Any]:
    """The tracker's definition, with references replaced by their logical ids."""
    _, machine = only(template_json, "AWS::StepFunctions::StateMachine")
    names = {k: k for k in template_json["Resources"]}
    parsed: dict[str, Any] = json.loads(resolve(machine["Properties"]["DefinitionString"], names))
    return parsed


__all__ = ["LocalCloud", "definition", "only", "resources"]
