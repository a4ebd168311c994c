"""The emulator as a standalone HTTP endpoint: boto3 and the stock AWS CLI against a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_orchestrator.aws.clients import opsworkscm_client

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local.emulator",
            "--port",
            "0",
            "--backup-seconds",
            "0.2",
            "--manual-backup-limit",
            "3",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    try:
        assert line.startswith("OpsWorks CM emulator listening on http://127.0.0.1:"), line
        yield line.rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_boto3_talks_to_the_http_endpoint(endpoint: str) -> None:
    client = opsworkscm_client(endpoint_url=endpoint)

    attributes = {
        a["Name"]: a["Maximum"] for a in client.describe_account_attributes()["Attributes"]
    }
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.create_backup(ServerName="ghost")

    assert attributes == {"ServerLimit": 10, "ManualBackupLimit": 3}


def test_stock_aws_cli_works_with_endpoint_url(endpoint: str, aws_cli_v1: Path) -> None:
    env = {**os.environ, "AWS_DATA_PATH": str(REPO_ROOT / "lambda" / "models")}

    result = subprocess.run(
        [
            str(aws_cli_v1),
            "opsworkscm",
            "describe-servers",
            "--endpoint-url",
            endpoint,
            "--output",
            "json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"Servers": []}


def test_the_virtualenv_leaves_the_operators_aws_cli_alone() -> None:
    # An activated virtualenv puts its bin/ first on PATH: an `aws` there would shadow the
    # operator's AWS CLI v2 (whose --cli-binary-format v1 does not know).
    assert not (Path(sys.executable).parent / "aws").exists()


def test_cli_arguments_are_checked(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.emulator", "--rate", "-1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "--rate must be at least 0" in result.stderr


def test_deleting_counts_is_a_command_line_option(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(
        json.dumps(
            {
                "account": {"manualBackupLimit": 1},
                "servers": [{"name": "chef-1", "backups": [{"ageDays": 1}]}],
            }
        )
    )
    arguments = ["--port", "0", "--deleting-counts", "--delete-seconds", "3600", "--fleet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", *arguments, str(fleet)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        client = opsworkscm_client(endpoint_url=process.stdout.readline().strip().rsplit(" ")[-1])
        [old] = client.describe_backups()["Backups"]
        client.delete_backup(BackupId=old["BackupId"])

        with pytest.raises(client.exceptions.LimitExceededException):
            client.create_backup(ServerName="chef-1")
    finally:
        process.terminate()
        process.wait(timeout=10)
