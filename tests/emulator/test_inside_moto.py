"""The in-process emulator keeps answering inside moto, including Step Functions SDK tasks."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from moto import mock_aws

from backup_orchestrator.clients import opsworkscm_client
from local.emulator import Emulator, ManualClock

DESCRIBE_DEFINITION = {
    "StartAt": "Describe",
    "States": {
        "Describe": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:opsworkscm:describeBackups",
            "Parameters": {"BackupId.$": "$.backupId"},
            "ResultSelector": {"status.$": "States.ArrayGetItem($.Backups[*].Status, 0)"},
            "End": True,
        }
    },
}


def test_opsworkscm_calls_reach_the_emulator_under_mock_aws(emulator: Emulator) -> None:
    emulator.backend.add_server("chef-1")
    with mock_aws():
        sns = boto3.client("sns")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        client = opsworkscm_client()
        client.create_backup(ServerName="chef-1")

        assert len(client.describe_backups()["Backups"]) == 1
        assert topic.startswith("arn:aws:sns:")


def test_step_functions_sdk_task_is_served_by_the_emulator(
    emulator: Emulator, clock: ManualClock
) -> None:
    emulator.backend.add_server("chef-1")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        backup_id = opsworkscm_client().create_backup(ServerName="chef-1")["Backup"]["BackupId"]
        clock.advance(emulator.config.backup_seconds)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="describe",
            definition=json.dumps(DESCRIBE_DEFINITION),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]

        execution = sfn.start_execution(
            stateMachineArn=machine, input=json.dumps({"backupId": backup_id})
        )
        result = wait_for(sfn, execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"status": "OK"}
    assert emulator.calls[-1].operation == "DescribeBackups"


def wait_for(sfn: Any, execution_arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_arn} still running after {timeout}s")
