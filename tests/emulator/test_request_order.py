"""Conformance: what a request meets first. Throttling, then the model and the service's rules
that need only the request, then injected faults and the account (Emulator.handle)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local.emulator import Emulator, ManualClock
from local.emulator.errors import InvalidStateException, ServiceError
from local.emulator.wire import TARGET_PREFIX

GHOST_ARN = "arn:aws:opsworks-cm:us-east-1:123456789012:server/ghost/0"
PROFILE = "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"
ROLE = "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"


def busy_server(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")
    opsworkscm.create_backup(ServerName="chef-1")  # now BACKING_UP


def tags(*keys: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": "v"} for key in keys]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.create_server(
                ServerName="chef-2",
                Engine="Chef",
                BackupId="ghost-20250101000000000",
                InstanceProfileArn=PROFILE,
                InstanceType="m5.large",
                ServiceRoleArn=ROLE,
            ),
            "Engine 'Chef' is not supported",
        ),
        (lambda c: c.update_server(ServerName="chef-1", BackupRetentionCount=0), "at least 1"),
        (lambda c: c.create_backup(ServerName="chef-1", Tags=tags("k", "k")), "more than once"),
        (lambda c: c.create_backup(ServerName="ghost", Tags=tags("k", " k ")), "more than once"),
        (lambda c: c.create_backup(ServerName="chef-1", Tags=tags("k" * 128)), "127"),
        (lambda c: c.create_backup(ServerName="ghost", Tags=tags(" ")), "empty"),
        (
            lambda c: c.tag_resource(ResourceArn=GHOST_ARN, Tags=tags(*map(str, range(51)))),
            "at most 50",
        ),
    ],
    ids=[
        "engine-with-a-missing-backup",
        "retention-0-while-backing-up",
        "repeated-key-while-backing-up",
        "repeated-key-after-trimming-on-a-missing-server",
        "key-of-128-while-backing-up",
        "blank-key-on-a-missing-server",
        "51-tags-on-a-missing-resource",
    ],
)
def test_service_rules_that_need_only_the_request_come_before_the_account(
    emulator: Emulator, opsworkscm: Any, call: Callable[[Any], Any], message: str
) -> None:
    busy_server(emulator, opsworkscm)

    with pytest.raises(opsworkscm.exceptions.ValidationException, match=message):
        call(opsworkscm)


def test_injected_faults_see_only_valid_requests(emulator: Emulator, opsworkscm: Any) -> None:
    # A fault stands for the account or the service behind the front door, so an invalid
    # request is refused before it: here one that plays "the server is busy".
    seen: list[dict[str, Any]] = []

    def busy(operation: str, params: dict[str, Any]) -> ServiceError | None:
        seen.append(params)
        return InvalidStateException("The server is busy.")

    emulator.faults.append(busy)

    with pytest.raises(opsworkscm.exceptions.ValidationException, match="serverName"):
        opsworkscm.create_backup(ServerName="1-starts-with-a-digit")
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.create_backup(ServerName="chef-1")
    assert seen == [{"ServerName": "chef-1"}]


def test_throttling_comes_before_the_body_is_read(clock: ManualClock) -> None:
    emulator = Emulator(clock=clock, rate=0.001, burst=1)
    target = TARGET_PREFIX + "CreateBackup"
    emulator.handle(target, b'{"ServerName": "chef-1"}', {})

    invalid = emulator.handle(target, json.dumps({"ServerName": "1"}).encode(), {})
    garbage = emulator.handle(target, b"{not json", {})

    assert json.loads(invalid.body)["__type"] == "ThrottlingException"
    assert json.loads(garbage.body)["__type"] == "ThrottlingException"
    assert [c.params for c in emulator.calls[1:]] == [{"ServerName": "1"}, {}]


def test_an_operation_the_emulator_lacks_still_checks_its_input_first(emulator: Emulator) -> None:
    target = TARGET_PREFIX + "AssociateNode"
    valid = {"ServerName": "chef-1", "NodeName": "node-1", "EngineAttributes": []}

    invalid = json.loads(emulator.handle(target, b"{}", {}).body)
    unsupported = json.loads(emulator.handle(target, json.dumps(valid).encode(), {}).body)

    assert invalid["__type"] == "ValidationException"
    assert invalid["message"].startswith("3 validation errors detected: Value null at")
    assert unsupported["__type"] == "UnsupportedOperationException"
