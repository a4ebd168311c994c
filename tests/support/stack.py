"""The synthesized stack, built once per test session (offline, cdk-nag included), the
helpers that read it, and its runtime pieces stood up in moto (`stack_in_moto`).

The session fixtures are registered for every test by tests/conftest.py."""

from __future__ import annotations

import fcntl
import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from moto import mock_aws

from backup_orchestrator.contract.settings import get_settings
from infra.assets.files import LAMBDA_ROOT
from local.cloud import MACHINES, LocalCloud, resolve, synthesized_app
from local.emulator import Emulator, ManualClock
from local.emulator.faults import PollTime
from local.estate import EstateTemplates, synthesize_estate


@pytest.fixture(scope="session")
def cdk_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="session")
def default_app(cdk_out: Path) -> App:
    """The app synthesized with cdk.json's context, its construct tree kept (cdk-nag packs other
    than the synth's run on it)."""
    return synthesized_app(outdir=cdk_out)


@pytest.fixture(scope="session")
def template_json(default_app: App, cdk_out: Path) -> dict[str, Any]:
    from app import STACK_NAME

    template: dict[str, Any] = json.loads((cdk_out / f"{STACK_NAME}.template.json").read_text())
    return template


@pytest.fixture(scope="session")
def estate_templates(tmp_path_factory: pytest.TempPathFactory) -> EstateTemplates:
    """The estate of `make demo-estate` (two accounts x two regions and the monitoring account)
    synthesized once: each member's and each central stack's template."""
    from local.demo_estate import DEPLOYMENTS, MONITORING

    return synthesize_estate(DEPLOYMENTS, MONITORING, tmp_path_factory.mktemp("cdk.out.estate"))


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


# Files that must never ship, planted in the asset source for the variant synth.
STRAY_FILES = (
    ".DS_Store",
    "backup_orchestrator/.DS_Store",
    "backup_orchestrator/notes.txt",
    "backup_orchestrator/.mypy_cache/3.13/handler.data.json",
    "backup_orchestrator/run/notes.txt",
    "backup_orchestrator/domain/__pycache__/planner.cpython-313.pyc",
    "models/opsworkscm/2016-11-01/.DS_Store",
)
# Every non-default context option the tests need, given at once: one synth serves them all.
VARIANT_CONTEXT = {
    "schedule": "cron(30 1 ? * MON-FRI *)",
    "timeZone": "Europe/London",
    "alertEmail": "ops@example.com",
    "reservedConcurrency": "0",
    "trackerLogLevel": "ALL",
    "powertoolsLayerArn": (
        "arn:aws-cn:lambda:cn-north-1:123456789012:layer:PowertoolsPython314Arm64:7"
    ),
    "restoreDrill": "monthly",
    "drillDeadlineSeconds": "3600",
    "drillServiceRoleArn": "arn:aws:iam::123456789012:role/cm-service",
    "drillInstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/cm-ec2",
    "drillInstanceRoleArn": "arn:aws:iam::123456789012:role/cm-ec2",
    # Every cdk-nag pack, as a shell leaves `-c 'nagPacks=["AwsSolutions",...]'`: a finding of
    # any of them on this variant fails its synth.
    "nagPacks": "[AwsSolutions,Serverless,NIST80053R5,HIPAASecurity,PCIDSS321]",
}


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: dict[str, Any]


@pytest.fixture(scope="session")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The stack synthesized the way `make synth ARGS="-c key=value ..."` does it (app.py with
    context options) with VARIANT_CONTEXT, while STRAY_FILES lie in the asset source."""
    from app import STACK_NAME, main

    outdir = tmp_path_factory.mktemp("cdk.out.variant")
    planted: list[Path] = []  # files and the directories made for them, to remove after
    # One planter at a time in this source tree: the workers of one run (pytest-xdist gives each
    # its own session), and any other run of the same checkout.
    digest = hashlib.sha256(str(LAMBDA_ROOT).encode()).hexdigest()[:16]
    lock = (Path(tempfile.gettempdir()) / f"opsworks-cm-backup-asset-{digest}.lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        for name in STRAY_FILES:
            path = LAMBDA_ROOT / name
            assert not path.exists(), f"{path} is already there"
            made = [p for p in reversed(path.parents) if p.is_relative_to(LAMBDA_ROOT)]
            planted += [p for p in made if not p.exists()] + [path]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not for Lambda")
        options = [f"--context={key}={value}" for key, value in VARIANT_CONTEXT.items()]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CDK_OUTDIR", str(outdir))
            assert main(options) == 0
    finally:
        for path in reversed(planted):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        lock.close()
    return Synthesized(outdir, json.loads((outdir / f"{STACK_NAME}.template.json").read_text()))


def asset_of(synthesized: Synthesized) -> Path:
    """The directory the orchestrator function's code is zipped from."""
    _, function = lambda_function(synthesized.template)
    return (
        synthesized.outdir / f"asset.{function['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    )


def resources(template_json: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == kind}


def only(template_json: dict[str, Any], kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The one resource of `kind` whose logical ID starts with `prefix`."""
    [(logical, resource)] = [
        (k, v) for k, v in resources(template_json, kind).items() if k.startswith(prefix)
    ]
    return logical, resource


def machine(template_json: dict[str, Any], kind: str = "Tracker") -> tuple[str, dict[str, Any]]:
    """The state machine of construct `kind` (local.cloud.MACHINES: the tracker or the drill)."""
    [(logical, resource)] = [
        (k, v)
        for k, v in resources(template_json, "AWS::StepFunctions::StateMachine").items()
        if k.startswith(f"{kind}StateMachine")
    ]
    return logical, resource


# The stack's Lambda functions, by the construct that owns each: the orchestrator's, and the
# functions the tracker and the drill make their OpsWorks CM calls through (TaskFunction).
FUNCTIONS = {
    "Orchestrator": "Orchestrator",
    "Tracker": "TrackerPollerFunction",
    "Drill": "DrillCallsFunction",
}


def lambda_function(
    template_json: dict[str, Any], owner: str = "Orchestrator"
) -> tuple[str, dict[str, Any]]:
    """The Lambda function of `owner` (one of FUNCTIONS)."""
    [(logical, resource)] = [
        (k, v)
        for k, v in resources(template_json, "AWS::Lambda::Function").items()
        if k.startswith(FUNCTIONS[owner])
    ]
    return logical, resource


def definition(template_json: dict[str, Any], kind: str = "Tracker") -> dict[str, Any]:
    """A state machine's definition, with references replaced by their logical ids."""
    _, machine_ = machine(template_json, kind)
    names = {k: k for k in template_json["Resources"]}
    parsed: dict[str, Any] = json.loads(resolve(machine_["Properties"]["DefinitionString"], names))
    return parsed


__all__ = [
    "FUNCTIONS",
    "LocalCloud",
    "definition",
    "lambda_function",
    "machine",
    "only",
    "resources",
    "stack_in_moto",
]


@contextmanager
def stack_in_moto(
    emulator: Emulator,
    clock: ManualClock,
    template_json: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    machines: Sequence[str] = MACHINES,
) -> Iterator[LocalCloud]:
    """The synthesized stack's runtime pieces in moto (its state machines running, or those of
    `machines`), and the function's environment as synthesized. Each poll of a backup is a
    minute of its life, and a backup takes two; the tracker polls every second, to a deadline of
    60 polls."""
    emulator.faults.append(PollTime(emulator, clock, 60))
    emulator.config.backup_seconds = 120
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        local = LocalCloud(template_json).create(machines)
        for name, value in local.function_environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POLL_SECONDS", "1")
        monkeypatch.setenv("DEADLINE_SECONDS", "60")
        monkeypatch.setenv("OPSWORKSCM_RATE", "1000")
        get_settings.cache_clear()
        try:
            yield local
        finally:
            local.close()
    get_settings.cache_clear()
