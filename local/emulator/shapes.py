"""The OpsWorks CM API model, loaded from the project's data, and validation against its shapes.

Messages follow the service's format: `1 validation error detected: Value 'x' at 'serverName'
failed to satisfy constraint: Member must ...`, several joined by "; ". A missing member shows as
`Value null`, a sensitive one without its value, and a list of scalars (`tagKeys`) is reported once,
at the list, naming every constraint of its members ("Member must satisfy constraint: [...]").
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from local import MODELS_DIR
from local.emulator.patterns import compile_java

SERVICE_NAME = "opsworkscm"
API_VERSION = "2016-11-01"

_NUMBERS = ("integer", "long", "float", "double")
_CONTAINERS = ("structure", "list", "map")
# The JSON types a scalar member accepts, and what a value of another type is told it must be.
_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "be a string"),
    "blob": ((str,), "be a blob"),
    "boolean": ((bool,), "be a boolean"),
    "integer": ((int,), "be an integer"),
    "long": ((int,), "be an integer"),
    "float": ((int, float), "be a number"),
    "double": ((int, float), "be a number"),
    "timestamp": ((datetime, int, float), "be a timestamp"),
}


@cache
def service_model() -> ServiceModel:
    """The OpsWorks CM model carried in lambda/models (botocore no longer ships it)."""
    loader = Loader(extra_search_paths=[str(MODELS_DIR)], include_default_search_paths=False)
    data = loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(data, service_name=SERVICE_NAME)


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _java(value: Any) -> str:
    """`value` as the service, written in Java, prints it: lists `[a, b]`, booleans lower case."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_java(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_java(k)}={_java(v)}" for k, v in value.items()) + "}"
    return str(value)


def _kind_problem(value: Any, kind: str) -> str | None:
    accepted = _KINDS.get(kind)
    if accepted is None:
        return None
    types, problem = accepted
    if isinstance(value, bool) and kind != "boolean":
        return problem
    return None if isinstance(value, types) else problem


def _bound_problems(measure: float, shape: Shape, word: str) -> list[str]:
    meta = shape.metadata
    found = []
    if "min" in meta and measure < meta["min"]:
        found.append(f"have {word} greater than or equal to {meta['min']}")
    if "max" in meta and measure > meta["max"]:
        found.append(f"have {word} less than or equal to {meta['max']}")
    return found


def _member_constraints(shape: Shape) -> list[str]:
    """All of a shape's constraints, in the order the service lists a list's members'
    ("Member must satisfy constraint: [...]"): upper bound, lower bound, pattern, enum."""
    meta = shape.metadata
    word = "value" if shape.type_name in _NUMBERS else "length"
    found = []
    if "max" in meta:
        found.append(f"have {word} less than or equal to {meta['max']}")
    if "min" in meta:
        found.append(f"have {word} greater than or equal to {meta['min']}")
    if "pattern" in meta:
        found.append(f"satisfy regular expression pattern: {meta['pattern']}")
    if "enum" in meta:
        found.append(f"satisfy enum value set: [{', '.join(meta['enum'])}]")
    return found


def _scalar_problems(value: Any, shape: Shape) -> list[str]:
    """The constraints a scalar `value` breaks, each as the text after "Member must".

    Numbers are checked against min and max, strings against length, pattern and enum, blobs
    (base64 on the wire) against the length of their bytes. A broken bound comes before a broken
    pattern: AWS services differ on this order (DynamoDB's CreateTable reports the length first,
    Cognito the pattern first); this is the order the service lists a list's members' constraints.
    """
    kind = shape.type_name
    wrong = _kind_problem(value, kind)
    if wrong is not None:
        return [wrong]
    if kind in _NUMBERS:
        return _bound_problems(value, shape, "value")
    if kind == "blob":
        try:
            return _bound_problems(len(base64.b64decode(value, validate=True)), shape, "length")
        except binascii.Error:
            return ["be base64-encoded"]
    if kind != "string":
        return []
    found = _bound_problems(len(value), shape, "length")
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not compile_java(pattern).fullmatch(value):
        found.append(f"satisfy regular expression pattern: {pattern}")
    enum: list[str] = shape.metadata.get("enum", [])
    if enum and value not in enum:
        found.append(f"satisfy enum value set: [{', '.join(enum)}]")
    return found


class _Validator:
    """Walks a value against a shape, collecting AWS-style constraint messages.

    `strict` also rejects members the shape does not have; requests are lenient about them
    (the service ignores unknown members), responses are strict (an unknown member is an
    emulator bug).
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.errors: list[str] = []

    def fail(self, value: Any, shape: Shape, path: str, constraint: str) -> None:
        if value is None:
            shown = "Value null"
        elif shape.metadata.get("sensitive"):
            shown = "Value"  # the service leaves a sensitive member's value out
        else:
            shown = f"Value '{_java(value)}'"
        self.errors.append(
            f"{shown} at '{path}' failed to satisfy constraint: Member must {constraint}"
        )

    def walk(self, value: Any, shape: Shape, path: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.structure(value, shape, path)  # type: ignore[arg-type]
        elif kind == "list":
            self.sequence(value, shape, path)  # type: ignore[arg-type]
        elif kind == "map":
            self.map(value, shape, path)  # type: ignore[arg-type]
        else:
            for problem in _scalar_problems(value, shape):
                self.fail(value, shape, path, problem)

    def structure(self, value: Any, shape: StructureShape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, shape, path, "be a structure")
            return
        required = set(shape.required_members)
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                self.walk(item, member, self.join(path, name))
            elif name in required:
                self.fail(None, member, self.join(path, name), "not be null")
        if self.strict:
            for name in value.keys() - shape.members.keys():
                self.fail(value[name], shape, self.join(path, name), "be a member of the shape")

    def sequence(self, value: Any, shape: ListShape, path: str) -> None:
        if not isinstance(value, list):
            self.fail(value, shape, path, "be a list")
            return
        for problem in _bound_problems(len(value), shape, "length"):
            self.fail(value, shape, path, problem)
        member = shape.member
        if member.type_name in _CONTAINERS:
            for index, item in enumerate(value, start=1):
                if item is None:
                    self.fail(None, member, f"{path}.{index}.member", "not be null")
                else:
                    self.walk(item, member, f"{path}.{index}.member")
            return
        broken = [["not be null"] if i is None else _scalar_problems(i, member) for i in value]
        if any(broken):
            listed = _member_constraints(member) or next(p for p in broken if p)
            inner = ", ".join(f"Member must {constraint}" for constraint in listed)
            self.fail(value, shape, path, f"satisfy constraint: [{inner}]")

    def map(self, value: Any, shape: MapShape, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, shape, path, "be a map")
            return
        for key, item in value.items():
            self.walk(key, shape.key, f"{path}.key")
            self.walk(item, shape.value, f"{path}.{key}")

    @staticmethod
    def join(path: str, name: str) -> str:
        return f"{path}.{_camel(name)}" if path else _camel(name)


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
