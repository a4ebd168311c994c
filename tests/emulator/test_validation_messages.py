"""Conformance: each kind of constraint, checked and worded as the service words it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.model import ShapeResolver, StructureShape

from local.emulator.shapes import describe_errors, service_model, validation_errors


def message(operation: str, params: dict[str, Any]) -> str:
    shape = service_model().operation_model(operation).input_shape
    return describe_errors(validation_errors(params, shape, strict=False))


def one_member(kind: str, **constraints: Any) -> StructureShape:
    """An input of one member, `value`, of type `kind`: for kinds the model does not use."""
    definitions: dict[str, Any] = {
        "Input": {"type": "structure", "members": {"Value": {"shape": "Value"}}},
        "Value": {"type": kind, **constraints},
    }
    shape = ShapeResolver(definitions).get_shape_by_name("Input")
    assert isinstance(shape, StructureShape)
    return shape


def errors(shape: StructureShape, value: Any) -> list[str]:
    return validation_errors({"Value": value}, shape, strict=False)


def constraint_error(shown: str, must: str) -> list[str]:
    return [f"Value '{shown}' at 'value' failed to satisfy constraint: Member must {must}"]


@pytest.mark.parametrize("kind", ["integer", "long", "float", "double"])
def test_numbers_are_checked_against_both_bounds(kind: str) -> None:
    shape = one_member(kind, min=1, max=5)

    assert errors(shape, 5) == []
    assert errors(shape, 6) == constraint_error("6", "have value less than or equal to 5")
    assert errors(shape, 0) == constraint_error("0", "have value greater than or equal to 1")


def test_a_fraction_is_a_double_not_an_integer() -> None:
    assert errors(one_member("double", max=5), 5.5) == constraint_error(
        "5.5", "have value less than or equal to 5"
    )
    assert errors(one_member("integer"), 2.5) == constraint_error("2.5", "be an integer")
    assert errors(one_member("integer"), True) == constraint_error("true", "be an integer")


def test_a_blob_is_measured_in_bytes_after_base64() -> None:
    shape = one_member("blob", min=2, max=4)
    five_bytes = base64.b64encode(b"12345").decode()

    assert errors(shape, base64.b64encode(b"1234").decode()) == []
    assert errors(shape, five_bytes) == constraint_error(
        five_bytes, "have length less than or equal to 4"
    )
    assert errors(shape, "not base64!") == constraint_error("not base64!", "be base64-encoded")


def test_a_missing_member_is_null() -> None:
    assert message("CreateBackup", {}) == (
        "1 validation error detected: Value null at 'serverName' failed to satisfy constraint: "
        "Member must not be null"
    )


def test_required_members_are_checked_inside_list_items() -> None:
    params = {"ResourceArn": "arn:aws:opsworks-cm:us-east-1:123456789012:server/a/1"}

    assert message("TagResource", {**params, "Tags": [{"Key": "a"}]}) == (
        "1 validation error detected: Value null at 'tags.1.member.value' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_a_broken_length_comes_before_a_broken_pattern() -> None:
    name = "1" * 41

    assert message("CreateBackup", {"ServerName": name}) == (
        f"2 validation errors detected: Value '{name}' at 'serverName' failed to satisfy "
        "constraint: Member must have length less than or equal to 40; "
        f"Value '{name}' at 'serverName' failed to satisfy constraint: Member must satisfy "
        r"regular expression pattern: [a-zA-Z][a-zA-Z0-9\-]*"
    )


def test_a_list_of_strings_is_reported_once_with_all_its_members_constraints() -> None:
    params = {"ResourceArn": "arn:aws:opsworks-cm:us-east-1:123456789012:server/a/1"}

    assert message("UntagResource", {**params, "TagKeys": ["ok", "bad*key"]}) == (
        "1 validation error detected: Value '[ok, bad*key]' at 'tagKeys' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must have length less than or "
        "equal to 128, Member must have length greater than or equal to 1, Member must satisfy "
        r"regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$]"
    )


def test_a_sensitive_value_is_left_out_and_a_long_one_is_shown_whole() -> None:
    found = message("CreateServer", {"CustomPrivateKey": "secret"})
    described = message("CreateBackup", {"ServerName": "a", "Description": "x" * 10_001})

    assert "Value at 'customPrivateKey' failed to satisfy constraint" in found
    assert "secret" not in found
    assert f"Value '{'x' * 10_001}' at 'description'" in described


@pytest.mark.parametrize(
    ("key", "valid"),
    [("Ünïcødé名前", True), ("½ ⅻ", True), ("a\u2028b", True), ("a\tb", False), ("a*b", False)],
    ids=["letters", "numbers-nl-no", "line-separator-is-z", "tab-is-a-control", "star"],
)
def test_tag_keys_are_unicode_letters_numbers_and_separators(key: str, valid: bool) -> None:
    params = {"ResourceArn": "arn:aws:opsworks-cm:us-east-1:123456789012:server/a/1"}

    found = message("TagResource", {**params, "Tags": [{"Key": key, "Value": ""}]})

    assert ("tags.1.member.key" not in found) is valid


def test_a_value_of_the_wrong_json_type_is_named() -> None:
    found = message("DescribeEvents", {"ServerName": "a", "MaxResults": "5"})

    assert found == (
        "1 validation error detected: Value '5' at 'maxResults' failed to satisfy constraint: "
        "Member must be an integer"
    )
