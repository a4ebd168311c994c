"""Tag rules as the CreateBackup reference states them, beyond the API model's own constraints.

The model checks each key and value first (lengths 1-128 and 0-256, and the pattern
`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`: Unicode letters, separators and numbers, and `_ . : / = + - @`).
The reference lists `+ - = . _ : /` as the special characters allowed; the model also allows `@`,
and the service accepts what its model allows (e-mail addresses are common tag values). What is
left for this module is what the reference adds: trimming, 127 and 255 characters after it, no
empty or repeated key, and at most 50 tags on a resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from local.emulator.errors import ValidationException

MAX_KEY_LENGTH = 127
MAX_VALUE_LENGTH = 255
MAX_TAGS = 50


def _check_length(text: str, what: str, limit: int) -> None:
    if len(text) > limit:
        raise ValidationException(f"Tag {what} '{text[:20]}...' is longer than {limit} characters.")


def normalize(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Trim and check request tags (already valid for the model); return them as a key -> value
    map.

    Raises ValidationException for an empty key, a key over 127 or a value over 255 characters,
    or a key given twice.
    """
    result: dict[str, str] = {}
    for tag in tags:
        key, value = tag["Key"].strip(), tag["Value"].strip()
        if not key:
            raise ValidationException("Tag keys cannot be empty.")
        _check_length(key, "key", MAX_KEY_LENGTH)
        _check_length(value, "value", MAX_VALUE_LENGTH)
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
