"""Pydantic validation errors turned into messages that name the field a person got wrong."""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each error: the field as the input spelled it, dotted for nesting."""
    found = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known field"
        found.append((field, message))
    return found
