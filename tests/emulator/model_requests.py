"""Requests derived from the API model: a valid value for any shape, and every way to break one.

`breaches(operation)` walks an operation's input, at any depth, and yields one `Breach` per
constraint a request can break (required, min, max, pattern, enum, on strings, numbers, blobs and
lists, and on the members of lists), with the fragments the service's message must contain. A
constraint added to the model is covered without touching this module.
"""

from __future__ import annotations

import base64
import copy
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.model import ListShape, Shape, StructureShape

from local.emulator.patterns import compile_java
from local.emulator.shapes import service_model

# Python's regular expression parser, to write the shortest text a pattern matches. Private, so
# imported by name: it has been there, unchanged in what this uses, since Python 3.11.
_parser: Any = importlib.import_module("re._parser")

CONTAINERS = ("structure", "list", "map")
NUMBERS = ("integer", "long", "float", "double")
# Patterns every string matches: there is no way to break them.
UNBREAKABLE_PATTERNS = frozenset({"(?s).*"})
_REPRESENTATIVE = {
    "CATEGORY_DIGIT": "0",
    "CATEGORY_NOT_DIGIT": "a",
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": "a",
    "CATEGORY_WORD": "a",
    "CATEGORY_NOT_WORD": "!",
}
# The way from a request to one of its members: member names, and 0 for a list's first item,
# each with the shape of what is found there.
Steps = tuple[tuple[str | int, Shape], ...]
# The value of a breach that leaves its member out.
ABSENT = object()


def _class_char(items: list[tuple[Any, Any]]) -> str:
    """A character of the class `[...]` parsed as `items`."""
    if items[0][0].name == "NEGATE":
        outside = re.compile("[" + "".join(_class_text(op, av) for op, av in items[1:]) + "]")
        return next(c for c in "a0A!-_. :/" if not outside.match(c))
    op, av = items[0]
    if op.name == "CATEGORY":
        return _REPRESENTATIVE[av.name]
    return chr(av) if op.name == "LITERAL" else chr(av[0])  # a literal, or a range's first


def _class_text(op: Any, av: Any) -> str:
    if op.name == "LITERAL":
        return re.escape(chr(av))
    if op.name == "RANGE":
        return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
    return {"CATEGORY_DIGIT": r"\d", "CATEGORY_SPACE": r"\s", "CATEGORY_WORD": r"\w"}[av.name]


def _generate(items: list[tuple[Any, Any]], grow: bool) -> str:
    """The shortest text of a parsed pattern; with `grow`, every `*` repeats once."""
    out: list[str] = []
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            out.append(chr(av))
        elif name in ("NOT_LITERAL", "ANY"):
            out.append("b" if av == ord("a") else "a")
        elif name == "IN":
            out.append(_class_char(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = av
            out.append(_generate(sub, grow) * min(high, max(low, int(grow))))
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            out.append(_generate(av[-1], grow))
        elif name == "BRANCH":
            out.append(_generate(av[1][0], grow))
        elif name == "CATEGORY":
            out.append(_REPRESENTATIVE[av.name])
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise ValueError(f"cannot write text for {name} in a pattern")
    return "".join(out)


@cache
def shortest_match(pattern: str, low: int, high: int) -> str:
    """A short text that the Java `pattern` matches and whose length is in [low, high]."""
    compiled = compile_java(pattern)
    parsed = list(_parser.parse(compiled.pattern))
    for grow in (False, True):
        text = _generate(parsed, grow)
        if low <= len(text) <= high and compiled.fullmatch(text):
            return text
    raise ValueError(f"no valid text derived for pattern {pattern!r}: teach _generate more")


def sample(shape: Shape) -> Any:
    """A valid value of `shape`, as small as the model allows: structures with their required
    members only, lists as short as they may be."""
    meta, kind = shape.metadata, shape.type_name
    if isinstance(shape, StructureShape):
        return {name: sample(shape.members[name]) for name in shape.required_members}
    if isinstance(shape, ListShape):
        return [sample(shape.member) for _ in range(meta.get("min", 0))]
    if kind == "map":
        return {}
    if kind == "string":
        if "enum" in meta:
            return meta["enum"][0]
        low, high = meta.get("min", 0), meta.get("max", 10**9)
        return shortest_match(meta.get("pattern", "(?s).*"), low, high)
    if kind == "blob":
        return base64.b64encode(b"x" * meta.get("min", 0)).decode()
    if kind in NUMBERS:
        return meta.get("min", 0)
    return {"boolean": False, "timestamp": 0}[kind]


@dataclass(frozen=True)
class Breach:
    """A request of `operation` that breaks one constraint at `path`: the member `steps` lead to
    is set to `value`, or left out when `value` is ABSENT. The service's message must contain
    `expected`, in order."""

    operation: str
    path: str
    constraint: str
    steps: Steps
    value: Any
    expected: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.operation}-{self.path}-{self.constraint}"

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """`request`, a valid one, with this breach made in a copy of it."""
        broken = copy.deepcopy(request)
        here: Any = broken
        for step, shape in self.steps[:-1]:
            if isinstance(step, int) and not here:
                here.append(sample(shape))
            elif isinstance(step, str) and step not in here:
                here[step] = sample(shape)
            here = here[step]
        last = self.steps[-1][0]
        if self.value is ABSENT:
            here.pop(last, None)
        else:
            here[last] = self.value
        return broken


def _shown(value: Any, shape: Shape) -> str:
    if value is ABSENT:
        return "Value null"
    return "Value" if shape.metadata.get("sensitive") else f"Value '{value}'"


def _fragment(value: Any, shape: Shape, path: str, constraint: str) -> str:
    return (
        f"{_shown(value, shape)} at '{path}' failed to satisfy constraint: Member must {constraint}"
    )


def scalar_breaks(shape: Shape) -> Iterator[tuple[str, Any, str]]:
    """(constraint, value breaking it, what the message says the member must) for a scalar."""
    meta, kind = shape.metadata, shape.type_name
    word = "value" if kind in NUMBERS else "length"
    blob = kind == "blob"

    def sized(n: int) -> Any:
        if kind in NUMBERS or kind == "list":  # a list's size: the caller makes its items
            return n
        return base64.b64encode(b"x" * n).decode() if blob else "a" * n

    if meta.get("min", 0) > 0 or (kind in NUMBERS and "min" in meta):
        yield "min", sized(meta["min"] - 1), f"have {word} greater than or equal to {meta['min']}"
    if "max" in meta:
        yield "max", sized(meta["max"] + 1), f"have {word} less than or equal to {meta['max']}"
    pattern = meta.get("pattern")
    if pattern is not None and pattern not in UNBREAKABLE_PATTERNS:
        yield (
            "pattern",
            _not_matching(pattern, meta),
            f"satisfy regular expression pattern: {pattern}",
        )
    if "enum" in meta:
        yield "enum", "NOT-IN-THE-ENUM", f"satisfy enum value set: [{', '.join(meta['enum'])}]"


def _not_matching(pattern: str, meta: dict[str, Any]) -> str:
    low: int = max(meta.get("min", 0), 1)
    high: int = meta.get("max", 10**9)
    for char in "!\n\r":
        if len(char * low) <= high and not compile_java(pattern).fullmatch(char * low):
            return char * low
    raise ValueError(f"no text of length {low} breaks {pattern!r}: list it as unbreakable")


def _member_breaches(operation: str, shape: Shape, path: str, steps: Steps) -> Iterator[Breach]:
    if isinstance(shape, StructureShape):
        yield from _structure_breaches(operation, shape, path, steps)
    elif isinstance(shape, ListShape):
        yield from _list_breaches(operation, shape, path, steps)
    elif shape.type_name == "map":
        raise NotImplementedError(f"{operation} takes a map at {path}: teach breaches maps")
    else:
        for constraint, value, must in scalar_breaks(shape):
            expected = (_fragment(value, shape, path, must),)
            yield Breach(operation, path, constraint, steps, value, expected)


def _list_breaches(operation: str, shape: ListShape, path: str, steps: Steps) -> Iterator[Breach]:
    for constraint, size, must in scalar_breaks(shape):
        # How the service prints a list of structures is its own: the message is read from `at`.
        expected = (f"at '{path}' failed to satisfy constraint: Member must {must}",)
        items = [sample(shape.member) for _ in range(size)]
        yield Breach(operation, path, constraint, steps, items, expected)
    member = shape.member
    if member.type_name in CONTAINERS:
        inner = (*steps, (0, member))
        yield from _member_breaches(operation, member, f"{path}.1.member", inner)
        return
    opening = f"at '{path}' failed to satisfy constraint: Member must satisfy constraint: ["
    for constraint, value, must in scalar_breaks(member):
        listed = (opening, f"Member must {must}")
        yield Breach(operation, path, f"member-{constraint}", steps, [value], listed)


def _structure_breaches(
    operation: str, shape: StructureShape, path: str, steps: Steps
) -> Iterator[Breach]:
    for name, member in shape.members.items():
        camel = name[:1].lower() + name[1:]
        member_path = f"{path}.{camel}" if path else camel
        member_steps = (*steps, (name, member))
        if name in shape.required_members:
            expected = (_fragment(ABSENT, member, member_path, "not be null"),)
            yield Breach(operation, member_path, "required", member_steps, ABSENT, expected)
        yield from _member_breaches(operation, member, member_path, member_steps)


def breaches(operation: str) -> list[Breach]:
    """Every single-constraint breach of `operation`'s input, at any depth."""
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        return []
    return list(_structure_breaches(operation, shape, "", ()))


def all_breaches() -> list[Breach]:
    model = service_model()
    return [b for operation in model.operation_names for b in breaches(operation)]
