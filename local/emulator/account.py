"""The emulated account itself: its state, its timeline, and the account-wide operations
(limits, events, tags).

Time-driven changes (a backup finishing, a server leaving `CREATING`, an automated backup in its
window) sit on a timeline and are applied, in order, whenever the clock is read by a request
(`settle`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from local.emulator import tags as tag_rules
from local.emulator.clock import Clock, SystemClock
from local.emulator.errors import (
    InvalidNextTokenException,
    InvalidStateException,
    ResourceNotFoundException,
)
from local.emulator.records import Backup, EmulatorConfig, Server, _Due


def _paginate(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = 0
    token = params.get("NextToken")
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidNextTokenException(f"The NextToken '{token}' is not valid.")
        start = int(token)
    size = params.get("MaxResults") or len(items) or 1
    page = items[start : start + size]
    result: dict[str, Any] = {key: page}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return result


class Account:
    """The state of one emulated account and region. Not thread-safe: callers hold `lock`."""

    def __init__(self, config: EmulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.servers: dict[str, Server] = {}
        self.backups: dict[str, Backup] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._timeline: list[_Due] = []
        self._seq = itertools.count()

    # ---- time ---------------------------------------------------------------------------

    def settle(self, now: datetime | None = None) -> datetime:
        """Apply every scheduled change due by `now`, in time order; return `now`."""
        now = now or self.clock.now()
        while self._timeline and self._timeline[0].when <= now:
            due = heapq.heappop(self._timeline)
            due.action(due.when)
        return now

    def _at(self, when: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self._timeline, _Due(when, next(self._seq), action))

    def _after(self, start: datetime, seconds: float, action: Callable[[datetime], None]) -> None:
        self._at(start + timedelta(seconds=seconds), action)

    def _event(self, server_name: str, at: datetime, message: str, log_url: str = "") -> None:
        event = {"CreatedAt": at, "ServerName": server_name, "Message": message}
        if log_url:
            event["LogUrl"] = log_url
        self.events.setdefault(server_name, []).append(event)

    # ---- helpers ------------------------------------------------------------------------

    def _server(self, name: str) -> Server:
        server = self.servers.get(name)
        if server is None:
            raise ResourceNotFoundException(f"There is no server named '{name}'.")
        return server

    def _backup(self, backup_id: str) -> Backup:
        backup = self.backups.get(backup_id)
        if backup is None:
            raise ResourceNotFoundException(f"There is no backup with id '{backup_id}'.")
        return backup

    def manual_backups_used(self) -> int:
        counted = {"IN_PROGRESS", "OK", "FAILED"}
        if self.config.deleting_counts_toward_limit:
            counted.add("DELETING")
        return sum(
            1 for b in self.backups.values() if b.backup_type == "MANUAL" and b.status in counted
        )

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:opsworks-cm:{self.config.region}:{self.config.account_id}:{kind}/{name}"

    def _resource_tags(self, arn: str) -> tuple[dict[str, str], str]:
        for server in self.servers.values():
            if server.arn == arn:
                return server.tags, server.status
        for backup in self.backups.values():
            if backup.arn == arn:
                return backup.tags, backup.status
        raise ResourceNotFoundException(f"There is no resource with ARN '{arn}'.")

    def _checked_tags(self, params: dict[str, Any]) -> dict[str, str]:
        tags = tag_rules.normalize(params.get("Tags") or [])
        tag_rules.check_count(tags)
        return tags

    # ---- operations ---------------------------------------------------------------------

    def op_describe_account_attributes(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        return {
            "Attributes": [
                {
                    "Name": "ServerLimit",
                    "Maximum": self.config.server_limit,
                    "Used": len(self.servers),
                },
                {
                    "Name": "ManualBackupLimit",
                    "Maximum": self.config.manual_backup_limit,
                    "Used": self.manual_backups_used(),
                },
            ]
        }

    def op_describe_events(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        server = self._server(params["ServerName"])
        newest_first = list(reversed(self.events.get(server.name, [])))
        return _paginate(newest_first, params, "ServerEvents")

    def op_list_tags_for_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        tags, _ = self._resource_tags(params["ResourceArn"])
        return _paginate(tag_rules.as_list(tags), params, "Tags")

    def op_tag_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        new = tag_rules.normalize(params["Tags"])
        tags, status = self._resource_tags(params["ResourceArn"])
        if status == "DELETING":
            raise InvalidStateException(f"Resource {params['ResourceArn']} is being deleted.")
        merged = {**tags, **new}
        tag_rules.check_count(merged)
        tags.update(new)
        return {}

    def op_untag_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        tags, status = self._resource_tags(params["ResourceArn"])
        if status == "DELETING":
            raise InvalidStateException(f"Resource {params['ResourceArn']} is being deleted.")
        for key in params["TagKeys"]:
            tags.pop(key.strip(), None)
        return {}
