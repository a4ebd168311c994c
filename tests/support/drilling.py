"""What the drill tests share: a selected server as DescribeServers gives it, and a plan."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from hypothesis import strategies as st

from backup_orchestrator.domain import drills
from backup_orchestrator.domain.drills import (
    FREQUENCY_TAG,
    Frequency,
    plan,
)
from backup_orchestrator.domain.records import Backup, Quota, Server
from tests.support.planning import NOW, SELECTED, backup, server

RUN = "scheduled-20260105T120000Z"
SELECT = ("opsworks-cm-backup", "enabled")
SERVICE_ROLE = "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"
PROFILE = "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"
# What DescribeServers gives for a Chef Automate server (the fields a drill copies and more).
DESCRIBED: dict[str, Any] = {
    "Engine": "ChefAutomate",
    "EngineModel": "Single",
    "EngineVersion": "2019",
    "InstanceType": "m5.large",
    "InstanceProfileArn": PROFILE,
    "ServiceRoleArn": SERVICE_ROLE,
    "SubnetIds": ["subnet-1"],
    "SecurityGroupIds": ["sg-1"],
    "KeyPair": "ops",
    "PreferredMaintenanceWindow": "Mon:03:00",
    "PreferredBackupWindow": "02:00",
    "AssociatePublicIpAddress": False,
    "BackupRetentionCount": 3,
    "DisableAutomatedBackup": False,
    "CustomDomain": "chef.example.com",
    "Endpoint": "chef.example.com",
    "Status": "HEALTHY",
}
# An account with room for drills: none of its ten servers exists yet.
ROOM = Quota(used=0, maximum=10)
SERVER_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*")
NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-]{0,39}", fullmatch=True)
RUN_IDS = st.one_of(st.just(RUN), st.from_regex(r"manual-[A-Za-z0-9]{1,32}", fullmatch=True))


def source(
    name: str,
    status: str = "HEALTHY",
    *,
    tags: dict[str, str] | None = None,
    described: dict[str, Any] | None = None,
    tags_error: str | None = None,
) -> Server:
    """A selected server as DescribeServers and its tags give it."""
    plain = server(name, status, tags=tags, tags_error=tags_error)
    return dataclasses.replace(
        plain, described={**DESCRIBED, "ServerName": name, **(described or {})}
    )


def weekly(name: str, **kwargs: Any) -> Server:
    return source(name, tags={**SELECTED, FREQUENCY_TAG: "weekly"}, **kwargs)


def drill_plan(
    servers: list[Server],
    backups: list[Backup] | None = None,
    *,
    quota: Quota = ROOM,
    **overrides: Any,
) -> drills.Plan:
    values: dict[str, Any] = {
        "now": NOW,
        "run_id": RUN,
        "select_tag": SELECT,
        "default": Frequency.OFF,
        "last": {},
        "running": {},
        "quota": quota,
    }
    values.update(overrides)
    if backups is None:
        backups = [backup(s.name, 1) for s in servers]
    return plan(servers, backups, **values)


def started(result: drills.Plan) -> list[str]:
    return [s.source.name for s in result.starts]


def skipped(result: drills.Plan) -> dict[str, str]:
    return {s.source: s.reason for s in result.skips}
