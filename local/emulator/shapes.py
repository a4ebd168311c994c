"""The OpsWorks CM API model, loaded from the project's data, and validation against its shapes."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from local import MODELS_DIR

SERVICE_NAME = "opsworkscm"
API_VERSION = "2016-11-01"


@cache
def service_model() -> ServiceModel:
    """The OpsWorks CM model carried in lambda/models (botocore no longer ships it)."""
    loader = Loader(extra_search_paths=[str(MODELS_DIR)], include_default_search_paths=False)
    data = loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(data, service_name=SERVICE_NAME)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Validator:
    """Walks a value against a shape, collecting AWS-style constraint messages.

    `strict` also rejects members the shape does not have; requests are lenient about them
    (the service ignores unknown members), responses are strict (an unknown member is an
    emulator bug). Patterns written with Unicode classes (`\\p{L}`) are left to the caller.
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        shown = "***" if isinstance(value, str) and len(value) > 80 else value
        self.errors.append(
            f"Value '{shown}' at '{path}' failed to satisfy constraint: Member must {constraint}"
        )

    def walk(self, value: Any, shape: Shape, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.structure(value, shape, path)  # type: ignore[arg-type]
        elif kind == "list":
            self.sequence(value, shape, path)  # type: ignore[arg-type]
        elif kind == "map":
            self.map(value, shape, path)  # type: ignore[arg-type]
        elif kind == "string":
            self.string(value, shape, path)
        elif kind in ("integer", "long"):
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(value, path, "be an integer")
            elif "min" in shape.metadata and value < shape.metadata["min"]:
                self.fail(
                    value, path, f"have value greater than or equal to {shape.metadata['min']}"
                )
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(value, path, "be a boolean")
        elif kind == "timestamp" and (
            not isinstance(value, datetime | int | float) or isinstance(value, bool)
        ):
            self.fail(value, path, "be a timestamp")

    def structure(self, value: Any, shape: StructureShape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path, "be a structure")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, self.join(path, name), "not be null")
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is None:
                if self.strict:
                    self.fail(member_value, self.join(path, name), "be a member of the shape")
                continue
            if member_value is not None:
                self.walk(member_value, member, self.join(path, name))

    def sequence(self, value: Any, shape: ListShape, path: str) -> None:
        if not isinstance(value, list):
            self.fail(value, path, "be a list")
            return
        self.length(value, shape, path)
        for index, item in enumerate(value, start=1):
            self.walk(item, shape.member, f"{path}.{index}.member")

    def map(self, value: Any, shape: MapShape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path, "be a map")
            return
        for key, item in value.items():
            self.walk(key, shape.key, f"{path}.key")
            self.walk(item, shape.value, f"{path}.{key}")

    def string(self, value: Any, shape: Shape, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "be a string")
            return
        self.length(value, shape, path)
        enum: list[str] = shape.metadata.get("enum", [])
        if enum and value not in enum:
            self.fail(value, path, f"satisfy enum value set: [{', '.join(enum)}]")
        pattern = shape.metadata.get("pattern")
        if pattern and "\\p{" not in pattern and not _compiled(pattern).fullmatch(value):
            self.fail(value, path, f"satisfy regular expression pattern: {pattern}")

    def length(self, value: str | list[Any], shape: Shape, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(value) < low:
            self.fail(value, path, f"have length greater than or equal to {low}")
        if high is not None and len(value) > high:
            self.fail(value, path, f"have length less than or equal to {high}")

    @staticmethod
    def join(path: str, name: str) -> str:
        return f"{path}.{_camel(name)}" if path else _camel(name)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validation_errors(value: Any, shape: Shape | None, *, strict: bool) -> list[str]:
    """Every constraint `value` breaks, as the messages AWS puts in a ValidationException."""
    if shape is None:
        return [] if not value else ["the operation takes no input"]
    validator = _Validator(strict)
    validator.walk(value, shape, "")
    return validator.errors


def describe_errors(errors: list[str]) -> str:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors)
