"""Render docs/reference/configuration.md, the reference of every CDK context key, from the
stack's configuration model (infra/config/model.py): one section per key with its type, default,
accepted values (from the field's constraints) and meaning (from its description).

Usage: python -m scripts.config_reference [--check]
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from backup_orchestrator.contract.limits import Retention
from infra.config.model import Config

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "configuration.md"
SOURCE = "infra/config/model.py"
HEADER = f"""\
# Configuration reference

Every CDK context key the stack reads, with its type, default, the values it accepts and what it
means. Set a key in `cdk.json` or with `-c key=value` (see [Configuration](../configuration.md)).
An unknown key or a bad value stops the synth with one line naming the key.

This page is generated from the configuration model, `{SOURCE}`, by
`scripts/config_reference.py` (`make reference`); a test fails when it differs from the model.
"""
TYPES: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    # Retention tiers: a JSON object of counts, or the tag grammar (docs/retention-tiers.md).
    Retention: "object or string",
}


class UndocumentedKeyError(ValueError):
    """A field of the model has no description; the message names its key."""


def key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _without_none(annotation: Any) -> Any:
    """`X | None` as X (the default says when a key may be left out)."""
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [a for a in get_args(annotation) if a is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return annotation


def _item(annotation: Any) -> Any:
    """The item type of a list (`tuple[X, ...]`, `list[X]`), or None."""
    if get_origin(annotation) in (tuple, list):
        return get_args(annotation)[0]
    return None


def choices(annotation: Any) -> list[str] | None:
    """The values a Literal or an enumeration allows (or each item of a list of them), or
    None."""
    annotation = _without_none(annotation)
    if _item(annotation) is not None:
        return choices(_item(annotation))
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


def type_name(annotation: Any) -> str:
    annotation = _without_none(annotation)
    if _item(annotation) is not None:
        return f"list of {type_name(_item(annotation))}s"
    if choices(annotation) is not None:
        return "string"
    if annotation in TYPES:
        return TYPES[annotation]
    raise TypeError(f"no name for the type {annotation!r}")


def literal(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(f'"{literal(v).strip("`")}"' for v in value) + "]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    return f"`{value}`"


def default(field: FieldInfo) -> str:
    return "not set" if field.default is None else literal(field.default)


def accepted(field: FieldInfo) -> str:
    """The field's constraints in words: a range, a pattern, or the values it takes."""
    allowed = choices(field.annotation)
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    listed = extra.get("enum")
    if allowed is None and isinstance(listed, list):
        allowed = [str(v) for v in listed]
    if allowed is not None:
        return ", ".join(f"`{v}`" for v in allowed)
    if _without_none(field.annotation) is bool:
        return "`true`, `false`"
    bounds: dict[str, Any] = {}
    pattern = None
    for constraint in field.metadata:
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(constraint, bound, None) is not None:
                bounds[bound] = getattr(constraint, bound)
        pattern = getattr(constraint, "pattern", None) or pattern
    if pattern is not None:
        return f"text matching `{pattern}`"
    if "ge" in bounds and "le" in bounds:
        return f"{bounds['ge']} to {bounds['le']}"
    words = {"gt": "more than", "ge": "at least", "lt": "less than", "le": "at most"}
    said = [f"{words[bound]} {value}" for bound, value in bounds.items()]
    return ", ".join(said) if said else "as described below"


def render(model: type[BaseModel]) -> str:
    """The reference page of `model`'s fields, in the model's order.

    Raises UndocumentedKeyError naming the first key without a description.
    """
    fields = list(model.model_fields.items())
    for name, field in fields:
        if not (field.description or "").strip():
            raise UndocumentedKeyError(
                f"context key {key(name, field)} has no description: give its Field(...) a "
                "description= (it is this page's text for the key)"
            )
    lines = [HEADER, "| key | type | default |", "|---|---|---|"]
    lines += [
        f"| [`{key(n, f)}`](#{key(n, f).lower()}) | {type_name(f.annotation)} | {default(f)} |"
        for n, f in fields
    ]
    for name, field in fields:
        lines += [
            "",
            f"## `{key(name, field)}`",
            "",
            f"- type: {type_name(field.annotation)}",
            f"- default: {default(field)}",
            f"- accepted: {accepted(field)}",
            "",
            str(field.description).strip(),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the page differs from the model"
    )
    args = parser.parse_args(argv)
    page = render(Config)
    if args.check:
        if PAGE.read_text() != page:
            print(f"{PAGE.name} differs from {SOURCE}: run make reference", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
