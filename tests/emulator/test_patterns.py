"""The model's Java patterns, read by Python as Java reads them (local/emulator/patterns.py)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from local.emulator.patterns import compile_java
from local.emulator.shapes import service_model

EVERY_CHARACTER = "".join(map(chr, range(sys.maxunicode + 1)))


def model_patterns() -> set[str]:
    model = service_model()
    shapes = [model.shape_for(name) for name in model.shape_names]
    return {shape.metadata["pattern"] for shape in shapes if "pattern" in shape.metadata}


def test_the_model_uses_these_unicode_classes_and_every_pattern_compiles() -> None:
    patterns = model_patterns()

    used = {name for p in patterns for name in re.findall(r"\\p\{(\w+)\}", p)}

    assert used == {"L", "N", "Z", "Alnum"}
    for pattern in patterns:
        compile_java(pattern)


@pytest.mark.parametrize("category", ["L", "N", "Z"])
def test_a_unicode_category_matches_exactly_its_characters(category: str) -> None:
    matched = "".join(compile_java(rf"[\p{{{category}}}]").findall(EVERY_CHARACTER))

    expected = "".join(c for c in EVERY_CHARACTER if unicodedata.category(c)[0] == category)
    assert matched == expected


@pytest.mark.parametrize(
    ("text", "letter"),
    [("é", True), ("名", True), ("½", False), ("٣", False), ("Ⅻ", False), ("_", False)],
)
def test_a_letter_is_not_a_number_though_python_word_classes_mix_them(
    text: str, letter: bool
) -> None:
    # `[^\W\d_]`, the usual stand-in for \p{L}, also matches ½ and Ⅻ (categories No and Nl).
    assert bool(compile_java(r"\p{L}").fullmatch(text)) is letter
    assert bool(compile_java(r"\p{N}").fullmatch(text)) is (not letter and text != "_")


def test_posix_alnum_is_ascii_as_in_java() -> None:
    node_name = compile_java(r"^[\-\p{Alnum}_:.]+$")

    assert node_name.fullmatch("node-1_a:b.c")
    assert not node_name.fullmatch("nœud")
    assert not node_name.fullmatch("٣")


def test_whitespace_escapes_are_ascii_as_in_java() -> None:
    assert compile_java(r"\s").fullmatch("\x0b")
    assert not compile_java(r"\s").fullmatch("\xa0")
    assert compile_java(r"\S").fullmatch("\xa0")
    assert not compile_java(r"\d").fullmatch("٣")


@pytest.mark.parametrize("terminator", ["\n", "\r", "\x85", "\u2028", "\u2029"])
def test_a_dot_stops_at_every_java_line_terminator_unless_dotall(terminator: str) -> None:
    text = f"a{terminator}b"

    assert not compile_java(".*").fullmatch(text)
    assert compile_java("(?s).*").fullmatch(text)
    assert not compile_java("(?s)a(?-s:.)b").fullmatch(text)
    assert compile_java("(?s)a(?-s:.)b|x").fullmatch("axb")


def test_a_class_the_translation_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="Punct"):
        compile_java(r"\p{Punct}")
    with pytest.raises(ValueError, match="negated"):
        compile_java(r"[a\P{L}]")
