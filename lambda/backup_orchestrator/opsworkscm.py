"""The service adapter: the only module that speaks to OpsWorks CM.

Every call goes through `retrying` (throttling and transient faults; see retry.py for why not
botocore's retries).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from backup_orchestrator.models import Backup, Quota, Server
from backup_orchestrator.retry import (
    TRANSIENT_ERRORS,
    RetryPolicy,
    RetryStats,
    is_retryable,
    retrying,
)

if TYPE_CHECKING:
    from types_boto3_opsworkscm import OpsWorksCMClient

T = TypeVar("T")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class OpsWorksCM:
    """Reads the fleet and makes the two changes the orchestrator needs."""

    def __init__(self, client: OpsWorksCMClient, policy: RetryPolicy | None = None) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.stats = RetryStats()

    def _call(self, call: Callable[[], T]) -> T:
        return retrying(call, policy=self.policy, stats=self.stats)

    def _call_mutation(
        self, call: Callable[[], T], refused: Callable[[ClientError, bool], T | None]
    ) -> T:
        """Retry a call that changes the account. An attempt that timed out or got a 5xx may
        have taken effect anyway, so when a later attempt is refused, `refused(error, uncertain)`
        may read the refusal as the earlier attempt's success and return the result to use
        (None: the refusal stands)."""
        uncertain = False

        def attempt() -> T:
            nonlocal uncertain
            try:
                return call()
            except ClientError as exc:
                settled = refused(exc, uncertain)
                if settled is not None:
                    return settled
                retry, throttled = is_retryable(exc)
                uncertain = uncertain or (retry and not throttled)
                raise
            except TRANSIENT_ERRORS:
                uncertain = True
                raise

        return self._call(attempt)

    def servers(self) -> list[Server]:
        # DescribeServers does not paginate (NextToken is documented as not implemented).
        answer = self._call(self.client.describe_servers)
        return [
            Server(
                name=s["ServerName"],
                status=s.get("Status", ""),
                arn=s.get("ServerArn", ""),
                engine=s.get("Engine", ""),
            )
            for s in answer.get("Servers", [])
        ]

    def backups(self, server_name: str | None = None) -> list[Backup]:
        """Every backup in the account (or of one server) from one call, newest first."""
        if server_name is None:
            answer = self._call(self.client.describe_backups)
        else:
            answer = self._call(lambda: self.client.describe_backups(ServerName=server_name))
        return [to_backup(b) for b in answer.get("Backups", [])]

    def manual_backup_quota(self) -> Quota:
        attributes = self._call(self.client.describe_account_attributes).get("Attributes", [])
        for attribute in attributes:
            if attribute.get("Name") == "ManualBackupLimit":
                return Quota(used=attribute.get("Used", 0), maximum=attribute.get("Maximum", 50))
        raise RuntimeError("DescribeAccountAttributes did not report ManualBackupLimit")

    def tags(self, server: Server) -> dict[str, str]:
        tags: dict[str, str] = {}
        page: dict[str, Any] = {"ResourceArn": server.arn}
        while True:
            answer = self._call(partial(self.client.list_tags_for_resource, **page))
            tags.update({t["Key"]: t["Value"] for t in answer.get("Tags", [])})
            if not answer.get("NextToken"):
                return tags
            page = {"ResourceArn": server.arn, "NextToken": answer["NextToken"]}

    def create_backup(self, server_name: str, description: str) -> Backup:
        """Start a manual backup. Raises ClientError as the service answers.

        When an attempt failed in a way that may have started the backup anyway (a timeout or a
        5xx) and the retry is refused because the server is now BACKING_UP, the backup that
        attempt started is looked up by its Description and returned, so it is not lost.
        """

        def call() -> Backup:
            answer = self.client.create_backup(ServerName=server_name, Description=description)
            return to_backup(answer["Backup"])

        def refused(exc: ClientError, uncertain: bool) -> Backup | None:
            if uncertain and error_code(exc) == "InvalidStateException":
                return self._started_with(server_name, description)
            return None

        return self._call_mutation(call, refused)

    def _started_with(self, server_name: str, description: str) -> Backup | None:
        for backup in self.backups(server_name):
            if backup.description == description and backup.status in ("IN_PROGRESS", "OK"):
                return backup
        return None

    def delete_backup(self, backup_id: str) -> bool:
        """Start deleting a backup; False when somebody else had already deleted it.

        When an attempt failed in a way that may have taken effect (a timeout or a 5xx), a retry
        refused as "not found" or "already being deleted" means that attempt did the deletion.
        """

        def call() -> bool:
            self.client.delete_backup(BackupId=backup_id)
            return True

        def refused(exc: ClientError, uncertain: bool) -> bool | None:
            if error_code(exc) in ("ResourceNotFoundException", "InvalidStateException"):
                return uncertain
            return None

        return self._call_mutation(call, refused)


def to_backup(data: Any) -> Backup:
    return Backup(
        backup_id=data["BackupId"],
        server_name=data.get("ServerName", ""),
        backup_type=data.get("BackupType", ""),
        status=data.get("Status", ""),
        created_at=data["CreatedAt"],
        description=data.get("Description") or "",
    )
