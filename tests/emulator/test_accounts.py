"""Accounts and regions: each has its own servers, backups and limits, reached as on AWS.

Real boto3 clients, in-process and over the HTTP endpoint: the account is the credentials' (a
12-digit access key ID, or a key moto's STS made for a role in that account), the region the
one the request is signed for; an unsigned request or an unknown key reaches the default.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from moto import mock_aws

from backup_orchestrator.aws.clients import opsworkscm_client
from backup_orchestrator.aws.pacing import TokenBucket
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock
from local.emulator.http import make_server

A, B = "111111111111", "222222222222"
REGIONS = ("us-east-1", "eu-west-1")
PLACES = [(account, region) for account in (A, B) for region in REGIONS]
DEFAULT = ("123456789012", "us-east-1")
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
ROLE = f"arn:aws:iam::{A}:role/service-role/aws-opsworks-cm-service-role"
PROFILE = f"arn:aws:iam::{A}:instance-profile/aws-opsworks-cm-ec2-role"

# A client for (access key, region), signed unless the key is None.
Connect = Callable[..., Any]


@pytest.fixture
def emulator(clock: ManualClock) -> Emulator:
    config = EmulatorConfig(backup_seconds=300, server_seconds=600, manual_backup_limit=1)
    return Emulator(config, clock, rate=0, strict=True)


@pytest.fixture(params=["in-process", "http"])
def connect(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Connect]:
    with ExitStack() as stack:
        endpoint: str | None = None
        if request.param == "in-process":
            stack.enter_context(InProcessEndpoint(emulator))
        else:
            server = make_server(emulator)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            endpoint = f"http://127.0.0.1:{server.server_port}"

        def client(key: str | None, region: str = "us-east-1", **credentials: str) -> Any:
            session = boto3.session.Session(
                aws_access_key_id=key or "unused",
                aws_secret_access_key=credentials.pop("secret", "secret"),
                aws_session_token=credentials.pop("token", None),
                region_name=region,
            )
            config = NO_RETRIES.merge(Config(signature_version=UNSIGNED)) if key is None else None
            return opsworkscm_client(session, endpoint_url=endpoint, config=config or NO_RETRIES)

        yield client


def names(client: Any) -> list[str]:
    return sorted(s["ServerName"] for s in client.describe_servers()["Servers"])


def test_servers_seeded_or_created_in_one_account_region_are_invisible_in_the_others(
    emulator: Emulator, connect: Connect
) -> None:
    for account, region in PLACES:
        emulator.backend_for(account, region).add_server(f"seeded-{account}-{region}")
    connect(A, "eu-west-1").create_server(
        ServerName="created",
        Engine="ChefAutomate",
        InstanceProfileArn=PROFILE,
        InstanceType="m5.large",
        ServiceRoleArn=ROLE,
    )

    seen = {(account, region): names(connect(account, region)) for account, region in PLACES}

    assert seen == {
        (A, "us-east-1"): [f"seeded-{A}-us-east-1"],
        (A, "eu-west-1"): ["created", f"seeded-{A}-eu-west-1"],
        (B, "us-east-1"): [f"seeded-{B}-us-east-1"],
        (B, "eu-west-1"): [f"seeded-{B}-eu-west-1"],
    }
    assert emulator.backend.servers == {}
    assert set(emulator.backends()) == {DEFAULT, *PLACES}
    other = connect(B, "eu-west-1")
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.create_backup(ServerName="created")


def test_the_manual_backup_limit_is_per_account_and_region(
    emulator: Emulator, connect: Connect
) -> None:
    # The limit is 1: filling it in one account-region leaves every other one its own.
    for account, region in PLACES:
        backend = emulator.backend_for(account, region)
        backend.add_server("chef-1")
        backend.add_server("chef-2")
    full = connect(A, "us-east-1")
    full.create_backup(ServerName="chef-1")

    with pytest.raises(full.exceptions.LimitExceededException):
        full.create_backup(ServerName="chef-2")
    for account, region in PLACES[1:]:
        connect(account, region).create_backup(ServerName="chef-1")
        attributes = connect(account, region).describe_account_attributes()["Attributes"]
        used = {a["Name"]: (a["Used"], a["Maximum"]) for a in attributes}
        assert used["ManualBackupLimit"] == (1, 1), (account, region)


@pytest.mark.parametrize(("account", "region"), PLACES)
def test_arns_carry_the_account_and_region_of_their_backend(
    emulator: Emulator, connect: Connect, account: str, region: str
) -> None:
    emulator.backend_for(account, region).add_server("chef-1")
    client = connect(account, region)

    server = client.describe_servers()["Servers"][0]
    backup = client.create_backup(ServerName="chef-1")["Backup"]

    assert server["ServerArn"].startswith(f"arn:aws:opsworks-cm:{region}:{account}:server/chef-1/")
    assert backup["BackupArn"] == (
        f"arn:aws:opsworks-cm:{region}:{account}:backup/{backup['BackupId']}"
    )
    assert backup["UserArn"] == f"arn:aws:iam::{account}:user/{account}"
    # A resource is found by its ARN only where it lives.
    assert client.list_tags_for_resource(ResourceArn=server["ServerArn"])["Tags"] == []
    elsewhere = connect(B if account == A else A, region)
    with pytest.raises(elsewhere.exceptions.ResourceNotFoundException):
        elsewhere.list_tags_for_resource(ResourceArn=server["ServerArn"])


def test_a_12_digit_access_key_is_its_account_and_the_signature_names_the_region(
    emulator: Emulator, connect: Connect
) -> None:
    emulator.backend_for(B, "eu-west-1").add_server("chef-b")

    assert names(connect(B, "eu-west-1")) == ["chef-b"]
    assert names(connect(B, "us-east-1")) == []
    assert names(connect(A, "eu-west-1")) == []
    # Not 12 digits: not an account.
    assert names(connect(B + "0", "eu-west-1")) == []
    assert [(c.account, c.region) for c in emulator.calls_to("DescribeServers")] == [
        (B, "eu-west-1"),
        (B, "us-east-1"),
        (A, "eu-west-1"),
        ("123456789012", "eu-west-1"),
    ]


def test_credentials_of_a_role_assumed_in_another_account_reach_that_account(
    emulator: Emulator, connect: Connect
) -> None:
    emulator.backend_for(B, "eu-west-1").add_server("chef-b")
    emulator.backend.add_server("chef-default")
    with mock_aws():
        sts = boto3.client("sts", region_name="us-east-1")
        assumed = sts.assume_role(
            RoleArn=f"arn:aws:iam::{B}:role/owcm-backup", RoleSessionName="estate"
        )["Credentials"]
        client = connect(
            assumed["AccessKeyId"],
            "eu-west-1",
            secret=assumed["SecretAccessKey"],
            token=assumed["SessionToken"],
        )

        assert names(client) == ["chef-b"]
        assert names(connect("AKIAUNKNOWNKEY", "us-east-1")) == ["chef-default"]
    calls = emulator.calls_to("DescribeServers")
    assert [(c.account, c.region) for c in calls] == [(B, "eu-west-1"), DEFAULT]


def test_unsigned_requests_and_unknown_keys_reach_the_default_account_and_region(
    emulator: Emulator, connect: Connect
) -> None:
    emulator.backend.add_server("chef-default")

    assert names(connect(None, "eu-west-1")) == ["chef-default"]
    assert names(connect("testing", "us-east-1")) == ["chef-default"]
    assert names(connect("testing", "eu-west-1")) == []
    assert set(emulator.backends()) == {DEFAULT, ("123456789012", "eu-west-1")}


def test_new_account_regions_take_the_defaults_settings_and_clock(
    emulator: Emulator, clock: ManualClock, connect: Connect
) -> None:
    backend = emulator.backend_for(A, "eu-west-1")
    backend.add_server("chef-1")
    backup_id = connect(A, "eu-west-1").create_backup(ServerName="chef-1")["Backup"]["BackupId"]

    clock.advance(emulator.config.backup_seconds)

    assert backend.clock is emulator.backend.clock
    assert (backend.config.manual_backup_limit, backend.config.backup_seconds) == (1, 300)
    assert (emulator.config.account_id, emulator.config.region) == DEFAULT
    assert backend.backups[backup_id].status == "IN_PROGRESS"
    connect(A, "eu-west-1").describe_backups(BackupId=backup_id)
    assert backend.backups[backup_id].status == "OK"


def test_throttling_is_per_account_and_region(emulator: Emulator, connect: Connect) -> None:
    emulator.bucket = TokenBucket(rate=0.001, burst=1)
    default = connect("testing")
    default.describe_servers()

    with pytest.raises(default.exceptions.ClientError, match="ThrottlingException"):
        default.describe_servers()
    connect(A).describe_servers()
    connect("testing", "eu-west-1").describe_servers()
