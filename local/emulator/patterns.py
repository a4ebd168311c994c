"""The API model's patterns are Java regular expressions; this makes Python `re` read them alike.

Python's `re` has no `\\p{...}` classes, and some classes it shares with Java mean other things:

- `\\p{L}`, `\\p{N}`, `\\p{Z}` (any Unicode general category, one or two letters) become explicit
  code point ranges taken from `unicodedata`. Shortcuts such as `[^\\W\\d_]` are not exact: that one
  also matches the 1,131 number characters of categories Nl and No (`²`, `½`, `Ⅻ`).
- `\\p{Alnum}` is POSIX, and in Java without UNICODE_CHARACTER_CLASS it is US-ASCII: `[a-zA-Z0-9]`.
- `\\s`, `\\d`, `\\w` are ASCII in Java and Unicode in Python.
- Java's `.` stops at every line terminator (`\\n \\r \\u0085 \\u2028 \\u2029`), Python's
  only at `\\n`.

A class the translation does not know raises ValueError: a model that grows a new one fails loudly
instead of being validated loosely.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

_POSIX = {"Alnum": "a-zA-Z0-9"}
_ASCII_ESCAPES = {"d": "0-9", "s": " \\t\\n\\x0b\\f\\r", "w": "a-zA-Z_0-9"}
_NOT_LINE_TERMINATOR = "[^\\n\\r\\x85\\u2028\\u2029]"
_CATEGORY = re.compile(r"[LMNPSZC][a-z]?")
_PROPERTY = re.compile(r"\{(\w+)\}|(\w)")
# An opening parenthesis with inline flags: `(?s)`, `(?-s:`, `(?ms)`, or a plain `(?:`.
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")


@cache
def compile_java(pattern: str) -> re.Pattern[str]:
    """`pattern`, a Java regular expression, compiled to match what Java matches.

    Raises ValueError for a class this translation does not know (see the module docstring).
    """
    return re.compile(translate(pattern))


def translate(pattern: str) -> str:
    """The Python spelling of the Java regular expression `pattern`."""
    out: list[str] = []
    dotall = [False]  # per group: whether `.` matches line terminators there
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            text, i = _escape(pattern, i, in_class)
            out.append(text)
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == ".":
            char = "(?s:.)" if dotall[-1] else _NOT_LINE_TERMINATOR
        elif char == "(":
            flags = _FLAGS.match(pattern, i)
            if flags is None:
                dotall.append(dotall[-1])
            else:
                _apply_flags(flags, dotall)
                out.append(flags.group(0))
                i = flags.end()
                continue
        elif char == ")" and len(dotall) > 1:
            dotall.pop()
        out.append(char)
        i += 1
    return "".join(out)


def _apply_flags(flags: re.Match[str], dotall: list[bool]) -> None:
    on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
    state = dotall[-1]
    if "s" in on:
        state = True
    if "s" in off:
        state = False
    if end == ")":  # `(?s)`: from here to the end of the enclosing group
        dotall[-1] = state
    else:  # `(?s:...)`: a group of its own
        dotall.append(state)


def _escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """The translation of the escape at `pattern[i]` (a backslash), and the index after it."""
    letter = pattern[i + 1]
    if letter in "pP":
        found = _PROPERTY.match(pattern, i + 2)
        if found is None:
            raise ValueError(f"malformed \\{letter} class in pattern {pattern!r}")
        body, end = _property_body(found.group(1) or found.group(2), pattern), found.end()
    elif letter.lower() in _ASCII_ESCAPES:
        body, end = _ASCII_ESCAPES[letter.lower()], i + 2
    else:
        return pattern[i : i + 2], i + 2
    negated = letter.isupper()
    if in_class and negated:
        raise ValueError(f"a negated class inside [...] is not supported: {pattern!r}")
    if in_class:
        return body, end
    return f"[{'^' if negated else ''}{body}]", end


def _property_body(name: str, pattern: str) -> str:
    if name in _POSIX:
        return _POSIX[name]
    if _CATEGORY.fullmatch(name):
        return category_ranges(name)
    raise ValueError(f"the Java class \\p{{{name}}} in pattern {pattern!r} is not translated")


@cache
def _category_runs() -> tuple[tuple[int, int, str], ...]:
    """Every code point's general category, as runs (first, last, category), in one pass."""
    runs: list[tuple[int, int, str]] = []
    first, current = 0, unicodedata.category("\x00")
    for point in range(1, sys.maxunicode + 1):
        category = unicodedata.category(chr(point))
        if category != current:
            runs.append((first, point - 1, current))
            first, current = point, category
    runs.append((first, sys.maxunicode, current))
    return tuple(runs)


@cache
def category_ranges(name: str) -> str:
    """The body of a character class matching Unicode general category `name` (`L`, `Nd`...)."""
    merged: list[list[int]] = []
    for first, last, category in _category_runs():
        if not category.startswith(name):
            continue
        if merged and merged[-1][1] == first - 1:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    return "".join(
        f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}"
        for first, last in merged
    )
