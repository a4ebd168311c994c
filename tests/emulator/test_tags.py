"""Conformance: tag rules exactly as the CreateBackup reference states them."""

from __future__ import annotations

from typing import Any

import pytest

from local.emulator import Emulator


def tags_of_new_backup(opsworkscm: Any, tags: list[dict[str, str]]) -> list[dict[str, str]]:
    arn = opsworkscm.create_backup(ServerName="chef-1", Tags=tags)["Backup"]["BackupArn"]
    return list(opsworkscm.list_tags_for_resource(ResourceArn=arn)["Tags"])


@pytest.fixture(autouse=True)
def server(emulator: Emulator) -> None:
    emulator.backend.add_server("chef-1")


@pytest.mark.parametrize(
    "tag",
    [
        {"Key": "k" * 127, "Value": "v"},
        {"Key": "k", "Value": "v" * 255},
        {"Key": "Stage", "Value": ""},
        {"Key": "a+b-c=d.e_f:g/h", "Value": "x y"},
        {"Key": "Ünïcødé名前", "Value": "値٣"},
        {"Key": "owner", "Value": "ops@example.com"},
        {"Key": "team@site", "Value": "v"},
    ],
    ids=["key-127", "value-255", "empty-value", "specials", "unicode", "at-in-value", "at-in-key"],
)
def test_valid_tags_are_accepted(opsworkscm: Any, tag: dict[str, str]) -> None:
    assert tags_of_new_backup(opsworkscm, [tag]) == [tag]


@pytest.mark.parametrize(
    ("tag", "field"),
    [
        ({"Key": "k" * 128, "Value": "v"}, "key"),
        ({"Key": "k", "Value": "v" * 256}, "value"),
        ({"Key": "   ", "Value": "v"}, "empty"),
        ({"Key": "bad*key", "Value": "v"}, "key"),
        ({"Key": "k", "Value": "semi;colon"}, "value"),
        ({"Key": "hash#tag", "Value": "v"}, "key"),
        ({"Key": "k", "Value": "\tprod"}, "value"),
    ],
    ids=[
        "key-128",
        "value-256",
        "blank-key",
        "star-in-key",
        "semicolon-in-value",
        "hash-in-key",
        # A tab is a control character, not a separator (\p{Z}): the model's pattern refuses it
        # before the service would trim it.
        "tab-in-value",
    ],
)
def test_invalid_tags_are_validation_exception_and_create_nothing(
    opsworkscm: Any, tag: dict[str, str], field: str
) -> None:
    with pytest.raises(opsworkscm.exceptions.ValidationException, match=field):
        opsworkscm.create_backup(ServerName="chef-1", Tags=[tag])
    assert opsworkscm.describe_backups()["Backups"] == []


def test_whitespace_is_trimmed_from_keys_and_values(opsworkscm: Any) -> None:
    stored = tags_of_new_backup(opsworkscm, [{"Key": "  Stage ", "Value": " prod  "}])

    assert stored == [{"Key": "Stage", "Value": "prod"}]


def test_fifty_tags_allowed_fifty_one_refused(emulator: Emulator, opsworkscm: Any) -> None:
    fifty = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert len(tags_of_new_backup(opsworkscm, fifty)) == 50

    emulator.backend.add_server("chef-2")
    with pytest.raises(opsworkscm.exceptions.ValidationException, match="50"):
        opsworkscm.create_backup(ServerName="chef-2", Tags=[*fifty, {"Key": "k50", "Value": "v"}])


def test_tag_resource_counts_existing_tags(emulator: Emulator, opsworkscm: Any) -> None:
    arn = opsworkscm.describe_servers(ServerName="chef-1")["Servers"][0]["ServerArn"]
    opsworkscm.tag_resource(
        ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    )

    opsworkscm.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "k0", "Value": "replaced"}, {"Key": "k49", "Value": "v"}]
    )
    with pytest.raises(opsworkscm.exceptions.ValidationException):
        opsworkscm.tag_resource(ResourceArn=arn, Tags=[{"Key": "one-too-many", "Value": "v"}])

    tags = {
        t["Key"]: t["Value"] for t in opsworkscm.list_tags_for_resource(ResourceArn=arn)["Tags"]
    }
    assert len(tags) == 50
    assert tags["k0"] == "replaced"


def test_untag_and_list_with_pagination(opsworkscm: Any) -> None:
    arn = opsworkscm.describe_servers(ServerName="chef-1")["Servers"][0]["ServerArn"]
    opsworkscm.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": "v"} for k in "abc"])

    opsworkscm.untag_resource(ResourceArn=arn, TagKeys=["b"])
    first = opsworkscm.list_tags_for_resource(ResourceArn=arn, MaxResults=1)
    second = opsworkscm.list_tags_for_resource(ResourceArn=arn, NextToken=first["NextToken"])

    assert [t["Key"] for t in first["Tags"] + second["Tags"]] == ["a", "c"]


def test_tags_of_unknown_resource(opsworkscm: Any) -> None:
    missing = "arn:aws:opsworks-cm:us-east-1:123456789012:server/ghost/0"
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.list_tags_for_resource(ResourceArn=missing)
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.tag_resource(ResourceArn=missing, Tags=[{"Key": "a", "Value": "b"}])
