"""The service's clock, as the HTTP `Date` header of its answers tells it (or cannot).

Pure: a header value in, a timezone-aware UTC time or the reason there is none out. The adapter
(opsworkscm.py) falls back to this machine's clock on a reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# One HTTP date has at most one comma, right after its leading day name ("Mon, 05 Jan 2026 ...",
# "Monday, 05-Jan-26 ..."). A Date sent twice arrives joined by a comma (", "), as urllib3 and so
# botocore join a repeated header, so it has a comma elsewhere.
_ONE_DATE = re.compile(r"\s*(?:[A-Za-z]+,)?[^,]*")


@dataclass(frozen=True)
class Unreadable:
    """Why a `Date` header tells no time."""

    reason: str


def service_time(value: str | None) -> datetime | Unreadable:
    """The time a `Date` header value states, in UTC; `Unreadable` when it states none for sure:
    missing, sent twice (whether the two agree or not), without a zone (RFC 5322's `-0000`,
    "zone unknown", or a zone name it does not define), or not a date."""
    if value is None or not value.strip():
        return Unreadable("missing")
    if not _ONE_DATE.fullmatch(value):
        return Unreadable("more than one value (sent twice?)")
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            return Unreadable("no time zone")
        return when.astimezone(UTC)
    except (ValueError, IndexError, OverflowError):
        return Unreadable("not a date")
