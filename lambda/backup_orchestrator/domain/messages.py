"""Words and messages that must fit where they are written. (pure)

A DynamoDB item holds at most 400 KB, an SNS message 256 KiB and a log event 256 KB, and what a
run writes about a fleet of up to 1,000 servers (`maxServers`) could pass any of them. So the
service's words are cut to a length, and a message about many servers names as many as fit and
then says how many more there are and where to find them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

# A reason (the service's words in it too) is kept in the history and quoted in an alert cut to
# this many bytes of JSON.
REASON_BYTES = 1_000
# SNS takes at most 256 KiB (262,144 bytes) a message; an alert keeps this much, the rest is
# room for the subject and what SNS adds to an e-mail.
ALERT_BYTES = 240_000


def json_bytes(value: object) -> int:
    """The bytes `value` takes as JSON (ASCII, as `json.dumps` writes it): never fewer than its
    UTF-8 text takes, since a character outside ASCII is written `\\uXXXX`."""
    return len(json.dumps(value))


def cut(words: str, limit: int) -> str:
    """`words`, cut (with "...") to at most `limit` bytes of JSON."""
    if json_bytes(words) <= limit:
        return words
    kept = words[:limit]  # no character takes less than a byte
    while kept and json_bytes(kept + "...") > limit:
        # Drop what is too much at once (each character takes at most 12 bytes), then one by one.
        over = json_bytes(kept + "...") - limit
        kept = kept[: -max(1, over // 12)]
    return kept + "..."


def fitting(sizes: Sequence[int], budget: int) -> int:
    """How many of the first `sizes` fit within `budget` together."""
    used = 0
    for count, size in enumerate(sizes):
        used += size
        if used > budget:
            return count
    return len(sizes)


def bounded(
    head: Sequence[str],
    blocks: Sequence[Sequence[str]],
    tail: Sequence[str],
    *,
    more: Callable[[int], str],
    budget: int = ALERT_BYTES,
) -> str:
    """The lines of `head`, of as many `blocks` (one per server) as fit, then `more(n)` for the
    n blocks left out (nothing when all fit), then `tail`: at most `budget` bytes of UTF-8 as
    long as head, tail and the `more` line fit it themselves."""

    def size(lines: Sequence[str]) -> int:
        return sum(len(line.encode()) + 1 for line in lines)

    room = budget - size(head) - size(tail) - size([more(len(blocks))])
    kept = fitting([size(block) for block in blocks], room)
    lines = [*head, *(line for block in blocks[:kept] for line in block)]
    if kept < len(blocks):
        lines.append(more(len(blocks) - kept))
    return "\n".join([*lines, *tail])
