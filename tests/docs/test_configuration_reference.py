"""The configuration pages hold up: the committed reference of the context keys is what the
configuration model renders, every key has a description, each constraint is shown, and the
function's environment variables page lists exactly the variables the function reads."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from backup_orchestrator.contract.settings import Settings
from infra.config.model import Config
from scripts.config_reference import PAGE, UndocumentedKeyError, main, render


def test_the_committed_page_is_what_the_model_renders() -> None:
    assert PAGE.read_text() == render(Config), "run `make reference` and commit the page"


def test_check_mode_agrees_with_the_committed_page() -> None:
    assert main(["--check"]) == 0


def test_every_context_key_has_its_section() -> None:
    page = PAGE.read_text()

    for name, field in Config.model_fields.items():
        assert f"## `{field.alias or name}`" in page


def test_a_key_without_a_description_is_refused_by_name() -> None:
    class Model(BaseModel):
        retain: Annotated[int, Field(ge=1, le=49, description="backups kept")] = 7
        poll_seconds: Annotated[int, Field(alias="pollSeconds", ge=10)] = 60

    with pytest.raises(UndocumentedKeyError, match="context key pollSeconds has no description"):
        render(Model)


def test_a_field_added_to_the_model_without_a_description_is_refused() -> None:
    class Grown(Config):
        new_key: Annotated[int, Field(alias="newKey")] = 1

    with pytest.raises(UndocumentedKeyError, match="newKey"):
        render(Grown)


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


def section(page: str, key: str) -> str:
    return page.split(f"## `{key}`", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("count", ["- type: integer", "- default: `7`", "- accepted: 1 to 49"]),
        ("floor", ["- accepted: at least 10"]),
        ("rate", ["- type: number", "- accepted: more than 0, at most 1000"]),
        ("arn", ["- default: not set", "- accepted: text matching `^arn:aws:`"]),
        ("level", ["- type: string", "- default: `ERROR`", "- accepted: `ALL`, `ERROR`"]),
        ("colour", ["- default: `red`", "- accepted: `red`, `blue`"]),
        ("days", ["- accepted: `1`, `7`, `30`"]),
        ("flag", ["- type: boolean", "- default: `false`", "- accepted: `true`, `false`"]),
        ("name", ["- type: string", "- accepted: as described below", "any name"]),
    ],
)
def test_each_constraint_is_shown_in_words(key: str, shown: list[str]) -> None:
    class Model(BaseModel):
        count: Annotated[int, Field(ge=1, le=49, description="d")] = 7
        floor: Annotated[int, Field(ge=10, description="d")] = 10
        rate: Annotated[float, Field(gt=0, le=1000, description="d")] = 5.0
        arn: Annotated[str | None, Field(pattern="^arn:aws:", description="d")] = None
        level: Annotated[Literal["ALL", "ERROR"], Field(description="d")] = "ERROR"
        colour: Annotated[Colour, Field(description="d")] = Colour.RED
        days: Annotated[int, Field(json_schema_extra={"enum": [1, 7, 30]}, description="d")] = 7
        flag: Annotated[bool, Field(description="d")] = False
        name: Annotated[str, Field(description="any name")] = "x"

    text = section(render(Model), key)

    for line in shown:
        assert line in text


def test_the_environment_variables_table_lists_what_the_function_reads() -> None:
    page = (PAGE.parents[1] / "configuration.md").read_text()
    table = page.split("## Function environment variables", 1)[1]

    listed = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))

    assert listed == {field.alias for field in Settings.model_fields.values()}
