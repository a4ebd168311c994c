"""Words and messages that must fit where they are written: cut words, and as many blocks of
lines as a budget holds, then how many more."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_orchestrator.domain.messages import bounded, cut, fitting, json_bytes


@pytest.mark.parametrize(
    ("words", "limit", "kept"),
    [
        ("short", 100, "short"),
        ("x" * 98, 100, "x" * 98),  # with its quotes, exactly the limit
        ("x" * 99, 100, "x" * 95 + "..."),
        ("é" * 50, 100, "é" * 15 + "..."),  # each written \u00e9 in JSON: 6 bytes
    ],
)
def test_words_are_cut_to_their_bytes_of_json_with_dots(words: str, limit: int, kept: str) -> None:
    assert cut(words, limit) == kept
    assert json_bytes(cut(words, limit)) <= limit


@given(st.text(max_size=400), st.integers(min_value=5, max_value=300))
def test_cut_words_are_the_longest_start_that_fits(words: str, limit: int) -> None:
    kept = cut(words, limit)

    assert json_bytes(kept) <= limit
    if kept != words:
        start = kept.removesuffix("...")
        assert words.startswith(start)
        assert json_bytes(words[: len(start) + 1] + "...") > limit


def test_as_many_first_sizes_fit_as_the_budget_holds() -> None:
    assert fitting([3, 3, 3], 7) == 2
    assert fitting([3, 3, 3], 9) == 3
    assert fitting([3], 2) == 0
    assert fitting([], 0) == 0


def more(left: int) -> str:
    return f"... and {left} more"


def test_a_message_that_fits_is_every_line_in_order() -> None:
    text = bounded(["head"], [["- a", "  why"], ["- b"]], ["tail"], more=more, budget=100)

    assert text == "head\n- a\n  why\n- b\ntail"


def test_a_message_too_long_keeps_the_first_blocks_whole_and_says_how_many_more() -> None:
    blocks = [[f"- server-{n:03d}", "  " + "why " * 20] for n in range(100)]

    text = bounded(["head", ""], blocks, ["", "tail"], more=more, budget=2_000)

    lines = text.splitlines()
    listed = [line for line in lines if line.startswith("- server-")]
    assert len(text.encode()) <= 2_000
    assert lines[:2] == ["head", ""] and lines[-2:] == ["", "tail"]
    assert listed == [f"- server-{n:03d}" for n in range(len(listed))]
    assert f"... and {100 - len(listed)} more" in lines
    assert len(listed) == 20


def test_the_budget_counts_utf8_bytes() -> None:
    # Ten characters, twenty bytes a block: four fit 100 bytes besides the last line (eight
    # would, counted in characters)
    blocks = [["é" * 10] for _ in range(10)]

    text = bounded([], blocks, [], more=more, budget=100)

    assert text.splitlines() == ["é" * 10] * 4 + ["... and 6 more"]
    assert len(text.encode()) <= 100
