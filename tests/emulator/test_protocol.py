"""Conformance: the JSON 1.1 wire protocol, throttling, unknown operations, response shapes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from backup_orchestrator.aws.clients import opsworkscm_client
from local.emulator import Emulator, InProcessEndpoint, ManualClock
from local.emulator.backend import OPERATIONS
from local.emulator.shapes import service_model, validation_errors
from local.emulator.wire import TARGET_PREFIX, WireResponse
from tests.conftest import NO_RETRIES
from tests.emulator.model_requests import sample

UNIMPLEMENTED = sorted(set(service_model().operation_names) - set(OPERATIONS))


def test_every_operation_answers_in_its_output_shape(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    """Walk every implemented operation once; the strict emulator checks each response."""
    role = "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"
    profile = "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"
    emulator.backend.add_server("chef-1")
    old = emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=1))
    server_arn = opsworkscm.describe_servers()["Servers"][0]["ServerArn"]
    calls = {
        "CreateServer": lambda: opsworkscm.create_server(
            ServerName="puppet-1",
            Engine="Puppet",
            InstanceProfileArn=profile,
            InstanceType="m5.large",
            ServiceRoleArn=role,
            Tags=[{"Key": "a", "Value": "b"}],
        ),
        "DescribeServers": opsworkscm.describe_servers,
        "DescribeAccountAttributes": opsworkscm.describe_account_attributes,
        "TagResource": lambda: opsworkscm.tag_resource(
            ResourceArn=server_arn, Tags=[{"Key": "k", "Value": "v"}]
        ),
        "ListTagsForResource": lambda: opsworkscm.list_tags_for_resource(ResourceArn=server_arn),
        "UntagResource": lambda: opsworkscm.untag_resource(ResourceArn=server_arn, TagKeys=["k"]),
        "CreateBackup": lambda: opsworkscm.create_backup(ServerName="chef-1", Description="d"),
        "DescribeBackups": opsworkscm.describe_backups,
        "DescribeEvents": lambda: opsworkscm.describe_events(ServerName="chef-1"),
        "DeleteBackup": lambda: opsworkscm.delete_backup(BackupId=old.backup_id),
        "UpdateServer": lambda: (
            clock.advance(emulator.config.backup_seconds),
            opsworkscm.update_server(ServerName="chef-1", BackupRetentionCount=3),
        )[1],
        "StartMaintenance": lambda: (
            clock.advance(emulator.config.server_seconds),
            opsworkscm.start_maintenance(ServerName="chef-1"),
        )[1],
        "RestoreServer": lambda: (
            clock.advance(emulator.config.server_seconds),
            opsworkscm.restore_server(
                ServerName="chef-1",
                BackupId=opsworkscm.describe_backups(ServerName="chef-1")["Backups"][0]["BackupId"],
            ),
        )[1],
        "DeleteServer": lambda: (
            clock.advance(emulator.config.server_seconds),
            opsworkscm.delete_server(ServerName="chef-1"),
        )[1],
    }
    assert set(calls) == set(OPERATIONS)

    for operation, call in calls.items():
        call()
        assert emulator.calls[-1].operation == operation
        assert emulator.calls[-1].error is None, operation


def test_output_validation_catches_a_bad_response() -> None:
    shape = service_model().operation_model("DescribeBackups").output_shape

    problems = validation_errors({"Backups": [{"Status": "DONE", "Extra": 1}]}, shape, strict=True)

    assert any("enum" in p and "backups.1.member.status" in p for p in problems)
    assert any("extra" in p for p in problems)


@pytest.mark.parametrize("operation", UNIMPLEMENTED)
def test_unimplemented_operations_get_an_error_naming_them(
    emulator: Emulator, operation: str
) -> None:
    # A valid request: an invalid one is refused by validation first, as for any operation.
    shape = service_model().operation_model(operation).input_shape
    assert shape is not None
    valid = sample(shape)
    answer = emulator.handle(TARGET_PREFIX + operation, json.dumps(valid).encode(), {})

    assert answer.status == 400
    body = json.loads(answer.body)
    assert body["__type"] == "UnsupportedOperationException"
    assert operation in body["message"]


def test_unknown_target_and_bad_json(emulator: Emulator) -> None:
    unknown = emulator.handle("OpsWorks_20130218.DescribeStacks", b"{}", {})
    garbage = emulator.handle(TARGET_PREFIX + "DescribeServers", b"{not json", {})

    assert json.loads(unknown.body)["__type"] == "UnknownOperationException"
    assert json.loads(garbage.body)["__type"] == "SerializationException"


def test_answers_are_dated_by_the_accounts_clock_unless_rewritten(
    emulator: Emulator, clock: ManualClock
) -> None:
    def date(answer: WireResponse) -> str | None:
        return answer.headers.get("Date")

    describe = TARGET_PREFIX + "DescribeServers"
    assert date(emulator.handle(describe, b"{}", {})) == "Mon, 05 Jan 2026 12:00:00 GMT"
    emulator.date_header = lambda sent: f"{sent}, {sent}"
    assert date(emulator.handle(describe, b"{}", {})) == (
        "Mon, 05 Jan 2026 12:00:00 GMT, Mon, 05 Jan 2026 12:00:00 GMT"
    )
    emulator.date_header = lambda _sent: None
    assert "Date" not in emulator.handle(describe, b"{not json", {}).headers


def test_raw_requests_are_validated_against_the_model(emulator: Emulator) -> None:
    answer = emulator.handle(
        TARGET_PREFIX + "CreateBackup", json.dumps({"Description": 5}).encode(), {}
    )

    body = json.loads(answer.body)
    assert body["__type"] == "ValidationException"
    assert "serverName" in body["message"]
    assert "description" in body["message"]


def test_throttling_is_a_modeled_throttling_error(clock: ManualClock) -> None:
    emulator = Emulator(clock=clock, rate=0.001, burst=2, strict=True)
    with InProcessEndpoint(emulator):
        client = opsworkscm_client(config=NO_RETRIES)
        client.describe_servers()
        client.describe_servers()
        with pytest.raises(ClientError) as excinfo:
            client.describe_account_attributes()

    assert excinfo.value.response["Error"]["Code"] == "ThrottlingException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [c.error for c in emulator.calls] == [None, None, "ThrottlingException"]


def test_botocore_retries_ride_out_throttling(clock: ManualClock) -> None:
    # One request a second with no burst: the second call, sent at once, is always throttled.
    emulator = Emulator(clock=clock, rate=1, burst=1, strict=True)
    with InProcessEndpoint(emulator):
        client = opsworkscm_client(config=Config(retries={"mode": "standard", "max_attempts": 10}))
        for _ in range(3):
            client.describe_servers()

    throttled = [c for c in emulator.calls if c.error == "ThrottlingException"]
    assert len([c for c in emulator.calls if c.error is None]) == 3
    assert throttled
