"""Retention tiers (pure): which tier a new backup belongs to, and which backups a server keeps.

A server keeps backups in up to three tiers, each with its own count, for example
`daily:7 weekly:4 monthly:3` (the plain `retain=N` is `daily:N`):

* **Which tier.** Decided when the backup is made, from its run's schedule slot in the
  schedule's time zone (never the wall clock or `CreatedAt`): the first backup of a server in a
  local calendar month is monthly, else the first in an ISO week is weekly, else daily. Only a
  backup that is OK or still in progress holds its period, so a failed or busy first slot passes
  the tier to the next backup of that period. A manual run has no slot: its backups are daily
  and hold no period; nor do backups made before tiers existed.
* **What is kept.** A monthly backup also holds the weekly and daily tiers, a weekly the daily
  one. A backup is wanted while it is among the newest `count` backups of any tier it holds;
  its *rank* is the highest such tier. When the account's limit cannot hold every wanted backup,
  the lowest ranks go first, oldest first within a rank (`keep_order`), so within a server a
  trimmed backup never outranks a kept one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo


class Tier(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @property
    def rank(self) -> int:
        return TIERS.index(self)

    def holds(self, tier: Tier) -> bool:
        """Whether a backup of this tier also counts in `tier` (a monthly holds all three)."""
        return self.rank >= tier.rank


TIERS = (Tier.DAILY, Tier.WEEKLY, Tier.MONTHLY)
# The most backups a server may keep: the account's limit (50) less its new backup.
MOST_KEPT = 49
# tier:count, tiers separated by one space (OpsWorks CM tag values allow no commas).
_TERM = re.compile(r"(?P<tier>[a-z]+):(?P<count>[0-9]{1,2})", re.ASCII)


class RetentionError(ValueError):
    """A retention outside the grammar or its bounds; the message says what is wrong."""


@dataclass(frozen=True)
class Retention:
    """How many backups a server keeps in each tier."""

    daily: int
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        counts = self.counts()
        if any(count < 0 for count in counts.values()):
            raise RetentionError("a tier's count cannot be negative")
        if self.daily < 1:
            raise RetentionError(
                "daily must be at least 1: the newest backup is always one of them"
            )
        if self.total > MOST_KEPT:
            raise RetentionError(
                f"the tiers ask for {self.total} backups in all; at most {MOST_KEPT} fit under "
                "the account's manual-backup limit with the new one"
            )

    @classmethod
    def of_retain(cls, retain: int) -> Retention:
        """The plain `retain=N`: the newest N backups."""
        return cls(daily=retain)

    def count(self, tier: Tier) -> int:
        return self.counts()[tier]

    def counts(self) -> dict[Tier, int]:
        return {Tier.DAILY: self.daily, Tier.WEEKLY: self.weekly, Tier.MONTHLY: self.monthly}

    @property
    def total(self) -> int:
        """The most backups the tiers can keep (fewer when one backup counts in two tiers)."""
        return self.daily + self.weekly + self.monthly

    def __str__(self) -> str:
        """The tag grammar, tiers with a count of 0 left out (daily is always there)."""
        return " ".join(f"{tier}:{count}" for tier, count in self.counts().items() if count)


def parse_retention(text: str) -> Retention:
    """Parse `daily:7 weekly:4 monthly:3`: tiers separated by single spaces, each at most once,
    counts written with the digits 0-9; daily is required. Raises RetentionError saying why."""
    counts: dict[str, int] = {}
    for term in text.split(" "):
        match = _TERM.fullmatch(term)
        if match is None:
            raise RetentionError(
                f"{term!r} is not tier:count (tiers daily, weekly, monthly, separated by one "
                "space, counts written with the digits 0-9)"
            )
        name = match["tier"]
        if name not in {t.value for t in TIERS}:
            raise RetentionError(f"{name!r} is not a tier: use daily, weekly or monthly")
        if name in counts:
            raise RetentionError(f"{name} is given twice")
        counts[name] = int(match["count"])
    if Tier.DAILY.value not in counts:
        raise RetentionError("daily is required, for example 'daily:7 weekly:4'")
    return Retention(**counts)


T = TypeVar("T")


def tier_for(slot: datetime | None, zone: ZoneInfo, held: Iterable[datetime]) -> Tier:
    """The tier of a backup made for schedule slot `slot` (None: a manual run, daily), given the
    slots of the server's backups that hold their period: its own backups of scheduled runs made
    since tiers exist (their marker has a tier), OK or in progress, of any tier. The month's first
    such backup was its monthly one, and it holds the month even once it is deleted while a later
    backup of the month remains (the newest good backup always does, rule 4)."""
    if slot is None:
        return Tier.DAILY
    month, week = period_holders(slot, zone, [(at, at) for at in held])
    if month is None:
        return Tier.MONTHLY
    return Tier.WEEKLY if week is None else Tier.DAILY


def period_holders(
    slot: datetime, zone: ZoneInfo, held: Sequence[tuple[T, datetime]]
) -> tuple[T | None, T | None]:
    """Of the backups that hold their period (each with its slot), the newest in the slot's
    local month and the newest in its ISO week (None: the period is not held)."""
    local = slot.astimezone(zone)
    newest_first = sorted(held, key=lambda item: item[1], reverse=True)
    dates = [(item, at.astimezone(zone)) for item, at in newest_first]
    month = next(
        (item for item, at in dates if (at.year, at.month) == (local.year, local.month)), None
    )
    week = next(
        (item for item, at in dates if at.isocalendar()[:2] == local.isocalendar()[:2]), None
    )
    return month, week


def ranks(newest_first: Sequence[tuple[T, Tier]], retention: Retention) -> dict[int, Tier]:
    """For the backups in `newest_first` (each with its tier), the rank of each wanted one,
    by position: the highest tier among whose newest `count` it is. Unwanted ones are absent."""
    wanted: dict[int, Tier] = {}
    for tier in TIERS:
        holding = [i for i, (_, own) in enumerate(newest_first) if own.holds(tier)]
        for i in holding[: retention.count(tier)]:
            wanted[i] = tier
    return wanted


def keep_order(
    new_tier: Tier, newest_first: Sequence[tuple[T, Tier]], retention: Retention
) -> list[T]:
    """The existing backups a server wants besides its new one (of tier `new_tier`, the newest),
    best first: highest rank, then newest. Keeping a prefix of it trims the lowest tiers first."""
    wanted = ranks([(None, new_tier), *newest_first], retention)
    order = sorted((i for i in wanted if i > 0), key=lambda i: (-wanted[i].rank, i))
    return [newest_first[i - 1][0] for i in order]


def granted(
    new_tier: Tier, newest_first: Sequence[tuple[T, Tier]], kept: Iterable[T], retention: Retention
) -> Retention:
    """How many of the places each tier asks for are filled: of the newest `count` backups
    holding the tier (the new one first, then `newest_first`), those kept."""
    holding = set(kept)
    listed: list[tuple[T | None, Tier]] = [(None, new_tier), *newest_first]
    filled = {
        tier: sum(
            item is None or item in holding
            for item, own in [entry for entry in listed if entry[1].holds(tier)][
                : retention.count(tier)
            ]
        )
        for tier in TIERS
    }
    return Retention(
        daily=filled[Tier.DAILY], weekly=filled[Tier.WEEKLY], monthly=filled[Tier.MONTHLY]
    )
