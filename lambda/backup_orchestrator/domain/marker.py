"""The product's mark on its own backups: one strict grammar, parsed, never prefix-matched.

A backup this product creates has the Description

    [opsworks-cm-backup run=<run id>]            or
    [opsworks-cm-backup run=<run id>] <text, one printable line>

where the run id is `scheduled-<slot>` (the schedule slot in UTC, `YYYYMMDDTHHMMSSZ`, a real
time) or `manual-<token>` (1-32 letters and digits from the invocation's request id). Anything
else, including descriptions that merely look alike (`[opsworks-cm-backup-exempt] ...`,
`[opsworks-cm-backup run=]`, a run id with a thirteenth month), is somebody else's backup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

PREFIX = "[opsworks-cm-backup run="
SCHEDULED = "scheduled-"
MANUAL = "manual-"
SLOT_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_TOKEN = 32

_DESCRIPTION = re.compile(
    r"\[opsworks-cm-backup run=(?P<run>scheduled-\d{8}T\d{6}Z|manual-[A-Za-z0-9]{1,32})\]"
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


def description(run_id: str, text: str | None) -> str:
    """The Description of a backup run `run_id` creates: the marker, then the operator's text.
    Raises MarkerError for a run id outside the grammar (it would not be recognised later)."""
    written = f"{PREFIX}{run_id}]" + (f" {text}" if text else "")
    if run_of(written) != run_id:
        raise MarkerError(f"{run_id!r} is not a run id of this product")
    return written


def run_of(text: str) -> str | None:
    """The run that made a backup with this Description, or None when it is not the product's."""
    match = _DESCRIPTION.fullmatch(text)
    # The text after the marker is what the product writes: one printable line.
    if match is None or not (match.group("text") or "").isprintable():
        return None
    run = match.group("run")
    if run.startswith(SCHEDULED):
        try:
            datetime.strptime(run.removeprefix(SCHEDULED), SLOT_FORMAT)
        except ValueError:
            return None
    return run
