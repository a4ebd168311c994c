"""The product's mark on its own backups: one strict grammar, parsed, never prefix-matched.

A backup this product creates has the Description

    [opsworks-cm-backup run=<run id> tier=<tier>]            or
    [opsworks-cm-backup run=<run id> tier=<tier>] <text, one printable line>

where the tier is `daily`, `weekly` or `monthly` (tiers.py; a marker written before tiers
existed has no ` tier=<tier>` and reads as daily), and the run id is `scheduled-<slot>` (the
schedule slot in UTC, `YYYYMMDDTHHMMSSZ`, a real time) or `manual-<token>` (1-32 letters and
digits from the invocation's request id). Anything else, including descriptions that merely look
alike (`[opsworks-cm-backup-exempt] ...`, `[opsworks-cm-backup run=]`, a run id with a thirteenth
month), is somebody else's backup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from backup_orchestrator.domain.tiers import Tier

PREFIX = "[opsworks-cm-backup run="
SCHEDULED = "scheduled-"
MANUAL = "manual-"
SLOT_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_TOKEN = 32

_DESCRIPTION = re.compile(
    r"\[opsworks-cm-backup run=(?P<run>scheduled-\d{8}T\d{6}Z|manual-[A-Za-z0-9]{1,32})"
    r"(?: tier=(?P<tier>daily|weekly|monthly))?\]"
    r"(?: (?P<text>.+))?",
    re.ASCII,
)
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]", re.ASCII)


class MarkerError(ValueError):
    """A run id that the grammar does not allow."""


def scheduled_run_id(slot: datetime) -> str:
    """The run id of a schedule slot (an aware datetime). Raises MarkerError when the slot is
    naive or falls outside years 1-9999 in UTC."""
    if slot.tzinfo is None:
        raise MarkerError("the slot must carry a time zone")
    try:
        utc = slot.astimezone(UTC)
    except OverflowError:
        raise MarkerError("the slot is outside the years 1-9999 in UTC") from None
    return f"{SCHEDULED}{utc:{SLOT_FORMAT}}"


def manual_run_id(request_id: str) -> str:
    """The run id of a manual invocation: the same for every delivery of one request id, so a
    retried invocation finds the backups its first attempt started. Raises MarkerError when the
    request id holds no letter or digit."""
    token = _NOT_ALNUM.sub("", request_id)[:MAX_TOKEN]
    if not token:
        raise MarkerError(f"request id {request_id!r} holds no letter or digit")
    return f"{MANUAL}{token}"


@dataclass(frozen=True)
class Mark:
    """What the product's marker says: the run that made the backup and the backup's tier."""

    run: str
    tier: Tier
    # The tier was written in the marker (False: a backup made before tiers existed).
    tiered: bool


def description(run_id: str, text: str | None, tier: Tier | None = None) -> str:
    """The Description of a backup run `run_id` creates: the marker (with the backup's tier),
    then the operator's text. Raises MarkerError for a run id outside the grammar (it would not
    be recognised later)."""
    written = (
        f"{PREFIX}{run_id}" + (f" tier={tier}" if tier else "") + "]" + (f" {text}" if text else "")
    )
    if run_of(written) != run_id:
        raise MarkerError(f"{run_id!r} is not a run id of this product")
    return written


def parse(text: str) -> Mark | None:
    """The product's marker in a Description, or None when the backup is not the product's."""
    match = _DESCRIPTION.fullmatch(text)
    # The text after the marker is what the product writes: one printable line.
    if match is None or not (match.group("text") or "").isprintable():
        return None
    run = match.group("run")
    if run.startswith(SCHEDULED) and slot_of(run) is None:
        return None
    tier = match.group("tier")
    return Mark(run, Tier(tier) if tier else Tier.DAILY, tiered=tier is not None)


def run_of(text: str) -> str | None:
    """The run that made a backup with this Description, or None when it is not the product's."""
    mark = parse(text)
    return mark.run if mark else None


def slot_of(run_id: str) -> datetime | None:
    """The schedule slot (UTC) of a scheduled run id; None for a manual run or a bad slot."""
    if not run_id.startswith(SCHEDULED):
        return None
    try:
        return datetime.strptime(run_id.removeprefix(SCHEDULED), SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
