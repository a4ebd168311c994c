"""Builders for planner tests: servers and backups as DescribeServers/DescribeBackups give them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.planner import Plan, Policy, ServerPlan
from backup_orchestrator.domain.records import Backup, Quota, Server
from backup_orchestrator.domain.tiers import Retention

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# Servers in these tests were created long before any of their backups.
CREATED = NOW - timedelta(days=1000)
SELECTED = {"opsworks-cm-backup": "enabled"}
BY_HAND = "taken by hand"


def server(
    name: str,
    status: str = "HEALTHY",
    *,
    tags: dict[str, str] | None = None,
    engine: str = "ChefAutomate",
    created: datetime = CREATED,
    tags_error: str | None = None,
) -> Server:
    return Server(
        name,
        status,
        engine=engine,
        created_at=created,
        tags=dict(SELECTED if tags is None else tags),
        tags_error=tags_error,
    )


def backup(
    server_name: str,
    days_ago: float,
    *,
    own: bool = True,
    status: str = "OK",
    kind: str = "MANUAL",
    engine: str = "ChefAutomate",
    description: str | None = None,
    run_id: str | None = None,
) -> Backup:
    created = NOW - timedelta(days=days_ago)
    if description is None:
        description = (
            marker.description(run_id or marker.scheduled_run_id(created), "nightly")
            if own and kind == "MANUAL"
            else BY_HAND
        )
    return Backup(
        backup_id=f"{server_name}-{created:%Y%m%d%H%M%S}{created.microsecond // 1000:03d}",
        server_name=server_name,
        backup_type=kind,
        status=status,
        created_at=created,
        description=description if kind == "MANUAL" else "",
        engine=engine,
    )


def policy(**overrides: object) -> Policy:
    """A policy; `retain=N` and `retain_override=N` stand for the tiers `daily:N`."""
    values: dict[str, object] = {"select_tag": ("opsworks-cm-backup", "enabled"), "retain": 7}
    values.update(overrides)
    retain = values.pop("retain")
    values.setdefault("retention", Retention.of_retain(int(retain)))  # type: ignore[call-overload]
    override = values.pop("retain_override", None)
    if override is not None:
        values["retention_override"] = Retention.of_retain(int(override))  # type: ignore[call-overload]
    return Policy(**values)  # type: ignore[arg-type]


def quota_for(backups: list[Backup], maximum: int = 50, *, others: int = 0) -> Quota:
    """The account's quota: the counted backups here plus `others` made for other servers."""
    return Quota(used=sum(b.counts_toward_limit for b in backups) + others, maximum=maximum)


def by_name(result: Plan) -> dict[str, ServerPlan]:
    return {p.server_name: p for p in result.servers}
