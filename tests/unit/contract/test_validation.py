"""Validation errors as (field, message): the field as the input spelled it, in a person's words."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backup_orchestrator.contract.validation import problems


class Drill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deadline_seconds: Annotated[int, Field(alias="deadlineSeconds", ge=60)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    servers: list[str] = []
    dry_run: Annotated[bool, Field(alias="dryRun", strict=True)] = True
    drills: list[Drill] = []

    @field_validator("servers")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if "ghost" in value:
            raise ValueError("no OpsWorks CM server named 'ghost'")
        return value


def problems_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        Request.model_validate(data)
    return problems(caught.value)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        # A validator's own words, without pydantic's "Value error, " in front.
        ({"servers": ["ghost"]}, [("servers", "no OpsWorks CM server named 'ghost'")]),
        # The field as the input spelled it (its alias), not the model's attribute.
        ({"dryRun": "true"}, [("dryRun", "Input should be a valid boolean")]),
        # Nested fields dotted, list positions included.
        (
            {"drills": [{"deadlineSeconds": 60}, {"deadlineSeconds": 5}]},
            [("drills.1.deadlineSeconds", "Input should be greater than or equal to 60")],
        ),
        # A field the model does not have, at any depth.
        ({"surprise": 1}, [("surprise", "is not a known field")]),
        (
            {"drills": [{"deadlineSeconds": 60, "extra": True}]},
            [("drills.0.extra", "is not a known field")],
        ),
    ],
)
def test_each_problem_names_the_field_a_person_got_wrong(
    data: dict[str, Any], found: list[tuple[str, str]]
) -> None:
    assert problems_of(data) == found


def test_every_problem_is_reported_in_the_order_found() -> None:
    found = problems_of({"servers": ["ghost"], "dryRun": 1, "surprise": 1})

    assert [field for field, _ in found] == ["servers", "dryRun", "surprise"]


def test_only_the_leading_value_error_is_dropped_from_a_message() -> None:
    class Tagged(BaseModel):
        tag: str

        @field_validator("tag")
        @classmethod
        def _tag(cls, value: str) -> str:
            raise ValueError("must look like key=value (Value error, is quoted here)")

    with pytest.raises(ValidationError) as caught:
        Tagged(tag="x")

    assert problems(caught.value) == [
        ("tag", "must look like key=value (Value error, is quoted here)")
    ]
