"""Reading the service's clock from a `Date` header: a well-formed Date with a zone is its time in
UTC; one that tells no time for sure is a reason, never a naive time or an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backup_orchestrator.aws.http_date import Unreadable, service_time

NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 05 Jan 2026 12:00:00 GMT",  # what the service sends (IMF-fixdate)
        "Mon, 05 Jan 2026 14:00:00 +0200",
        "Mon, 05 Jan 2026 07:00:00 -0500",
        "Mon, 05 Jan 2026 12:00:00 +0000",
        "05 Jan 2026 12:00:00 UT",
        "Monday, 05-Jan-26 12:00:00 GMT",  # RFC 850, obsolete but a valid HTTP date
        "  Mon, 05 Jan 2026 12:00:00 GMT  ",
    ],
)
def test_a_date_with_a_zone_is_its_time_in_utc(value: str) -> None:
    when = service_time(value)

    assert when == NOON
    assert isinstance(when, datetime)
    assert when.tzinfo is UTC


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_date_is_unreadable(value: str | None) -> None:
    assert service_time(value) == Unreadable("missing")


@pytest.mark.parametrize(
    "value",
    [
        "Mon, 05 Jan 2026 12:00:00 -0000",  # RFC 5322: the zone is unknown
        "Mon, 05 Jan 2026 12:00:00 XYZ",  # a zone name the standards do not define
        "Mon, 05 Jan 2026 12:00:00",
    ],
)
def test_a_date_without_a_zone_is_unreadable(value: str) -> None:
    assert service_time(value) == Unreadable("no time zone")


@pytest.mark.parametrize(
    "value",
    [
        # Sent twice, joined with a comma as botocore hands a repeated header over: agreeing...
        "Mon, 05 Jan 2026 12:00:00 GMT, Mon, 05 Jan 2026 12:00:00 GMT",
        # ... or not ...
        "Mon, 05 Jan 2026 12:00:00 GMT, Mon, 05 Jan 2026 12:00:07 GMT",
        "Mon, 05 Jan 2026 12:00:00 GMT, Thu, 01 Jan 1970 00:00:00 GMT",
        # ... with numeric zones, without day names, or a second value that is empty.
        "Mon, 05 Jan 2026 12:00:00 +0000, Mon, 05 Jan 2026 12:00:00 +0000",
        "05 Jan 2026 12:00:00 GMT, 05 Jan 2026 12:00:00 GMT",
        "Mon, 05 Jan 2026 12:00:00 GMT, ",
    ],
)
def test_a_date_sent_twice_is_unreadable(value: str) -> None:
    assert service_time(value) == Unreadable("more than one value (sent twice?)")


@pytest.mark.parametrize(
    "value",
    [
        "yesterday at noon",
        "1767614400",
        "Mon, 32 Jan 2026 12:00:00 GMT",  # no such day
        "Mon, 05 Jan 2026 25:00:00 GMT",  # no such hour
        "Mon, 05 Jan 2026 12:00:00 +9999",  # no such offset
    ],
)
def test_a_value_that_is_not_a_date_is_unreadable(value: str) -> None:
    assert service_time(value) == Unreadable("not a date")
