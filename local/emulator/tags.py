"""Tag rules as the CreateBackup reference states them, and the API model's pattern.

The reference lists `+ - = . _ : /` as the special characters allowed; the model's pattern for
keys and values also allows `@`, and the service accepts what its model allows (e-mail addresses
are common tag values), so `@` is accepted too.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from local.emulator.errors import ValidationException

MAX_KEY_LENGTH = 127
MAX_VALUE_LENGTH = 255
MAX_TAGS = 50
ALLOWED_SPECIALS = frozenset("+-=._:/@")


def _allowed(char: str) -> bool:
    # Unicode letters (L*), numbers (N*) and separators (Z*), plus the listed specials.
    return char in ALLOWED_SPECIALS or unicodedata.category(char)[0] in "LNZ"


def _check(text: str, what: str, limit: int) -> None:
    if len(text) > limit:
        raise ValidationException(f"Tag {what} '{text[:20]}...' is longer than {limit} characters.")
    bad = sorted({c for c in text if not _allowed(c)})
    if bad:
        raise ValidationException(
            f"Tag {what} '{text}' contains characters that are not allowed: {''.join(bad)!r}. "
            "Use Unicode letters, numbers, separators, or + - = . _ : / @"
        )


def normalize(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Trim and validate request tags; return them as a key -> value map.

    Raises ValidationException for an empty key, a key over 127 or a value over 255 characters,
    a character outside the allowed set, or a key given twice.
    """
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag["Key"].strip(), tag["Value"].strip()
        if not key:
            raise ValidationException("Tag keys cannot be empty.")
        _check(key, "key", MAX_KEY_LENGTH)
        _check(value, "value", MAX_VALUE_LENGTH)
        if key in result:
            raise ValidationException(f"Tag key '{key}' is given more than once.")
        result[key] = value
    return result


def check_count(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise ValidationException(
            f"A resource can have at most {MAX_TAGS} user-applied tags; this request would give it "
            f"{len(tags)}."
        )


def as_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]
