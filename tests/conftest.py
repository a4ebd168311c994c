"""Test-wide setup: the OpsWorks CM model on AWS_DATA_PATH, fake credentials, and the emulator."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

# Set before any botocore session exists, once for the whole run.
REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ["AWS_DATA_PATH"] = str(REPO_ROOT / "lambda" / "models")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
os.environ["POWERTOOLS_SERVICE_NAME"] = "opsworks-cm-backup"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "OpsWorksCMBackup"
os.environ["POWERTOOLS_TRACE_DISABLED"] = "1"

import pytest  # noqa: E402
from botocore.config import Config  # noqa: E402

from backup_orchestrator.aws.clients import opsworkscm_client  # noqa: E402
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock  # noqa: E402
from local.fleet import add_own_backup as seed_own_backup  # noqa: E402
from local.runtime import LocalLambdaContext  # noqa: E402

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
# The stock AWS CLI v1, which `make venv` installs off the PATH (see requirements-awscli.txt).
AWS_CLI_V1 = Path(sys.prefix) / "awscli" / "bin" / "aws"


# What a person's shell has that the tools under test read: no AWS settings of the test run's
# and none of the function's (running the function in-process, the demo sets them).
SHELL_VARIABLES = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "USER")


def operator_shell(**variables: str) -> dict[str, str]:
    """A person's shell environment, with fake credentials and a region, plus `variables`."""
    shell = {k: v for k, v in os.environ.items() if k in SHELL_VARIABLES}
    shell.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    return {**shell, **variables}


@pytest.fixture(scope="session")
def aws_cli_v1() -> Path:
    if not AWS_CLI_V1.is_file():
        pytest.fail(f"{AWS_CLI_V1} is missing: `make venv` installs it")
    return AWS_CLI_V1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(backup_seconds=300, server_seconds=600, delete_seconds=30)


@pytest.fixture
def emulator(clock: ManualClock, emulator_config: EmulatorConfig) -> Iterator[Emulator]:
    """An emulated account served in-process; every response is checked against the model."""
    emu = Emulator(emulator_config, clock, rate=0, strict=True)
    with InProcessEndpoint(emu):
        yield emu


@pytest.fixture
def opsworkscm(emulator: Emulator) -> Any:
    """A real boto3 OpsWorks CM client, answered by the emulator, with retries off."""
    return opsworkscm_client(region_name="us-east-1", config=NO_RETRIES)


# The handler's context in tests is the same stand-in the local tools use.
FakeLambdaContext = LocalLambdaContext


def add_own_backup(emulator: Emulator, server: str, days_ago: float) -> str:
    """Seed an OK manual backup this product made (an earlier run) `days_ago` days old."""
    created = emulator.backend.clock.now() - timedelta(days=days_ago)
    return seed_own_backup(emulator.backend, server, created).backup_id


# The synthesized stack, once per session, for the template, end-to-end and chaos tests.
from tests.support.stack import (  # noqa: E402, F401
    cdk_out,
    default_app,
    estate_templates,
    template,
    template_json,
    variant,
)
