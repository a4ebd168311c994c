"""What the tests of the deployed handler share: a scheduled slot's event, and a report's
results by server."""

from __future__ import annotations

from typing import Any

SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["serverName"]: r for r in report["results"]}
