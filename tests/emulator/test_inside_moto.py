"""The in-process emulator keeps answering inside moto, including Step Functions SDK tasks."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from backup_orchestrator.aws.clients import opsworkscm_client
from local.emulator import Emulator, ManualClock
from local.runtime import wait_for_execution

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
        result = wait_for_execution(sfn, execution["executionArn"])

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"status": "OK"}
    assert emulator.calls[-1].operation == "DescribeBackups"
