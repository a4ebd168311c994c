"""Plain-text tables and the summary rows every figure contributes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One figure in the summary: its value, its target, and why a missed target was missed."""

    figure: str
    value: str
    target: str
    met: bool | None
    why: str = ""

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "info"
        return "yes" if self.met else "NO"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    lines = [_line(cells[0], widths, [False] * len(widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(_line(row, widths, numeric) for row in cells[1:])
    return "\n".join(lines)


def summary(rows: Sequence[Row]) -> str:
    """The summary table, then one line per missed target saying why."""
    text = table(
        ["Figure", "Value", "Target", "Met"],
        [(r.figure, r.value, r.target, r.verdict) for r in rows],
    )
    missed = [r for r in rows if r.met is False]
    if missed:
        text += "\n\nWhy targets were missed:\n" + "\n".join(
            f"- {r.figure}: {r.why}" for r in missed
        )
    return text


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _line(row: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    parts = [
        cell.rjust(width) if right else cell.ljust(width)
        for cell, width, right in zip(row, widths, numeric, strict=True)
    ]
    return "  ".join(parts).rstrip()
