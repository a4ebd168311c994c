"""The OpsWorks CM adapter: the only module that speaks to the service.

Every call goes through `retrying` (throttling and transient faults; see retries.py for why not
botocore's retries).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator.aws.errors import (
    AccessDenied,
    OutcomeUnknown,
    UnexpectedAnswer,
    error_code,
    error_message,
)
from backup_orchestrator.aws.http_date import Unreadable, service_time
from backup_orchestrator.aws.retries import (
    TRANSIENT_ERRORS,
    RetryPolicy,
    RetryStats,
    is_retryable,
    retrying,
)
from backup_orchestrator.domain import ownership
from backup_orchestrator.domain.records import GONE, Backup, Quota, Server

if TYPE_CHECKING:
    from types_boto3_opsworkscm import OpsWorksCMClient
    from types_boto3_opsworkscm.type_defs import ServerEventTypeDef, TagTypeDef

logger = Logger(child=True)
T = TypeVar("T")
# Tags are read this many servers at a time (every call still takes the client's pace).
TAG_READERS = 4


class OpsWorksCM:
    """Reads the fleet and makes the two changes the orchestrator needs.

    `sleep` and `monotonic` are the clock the retries and waits use (tests pass fast ones).
    """

    def __init__(
        self,
        client: OpsWorksCMClient,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.policy = policy or RetryPolicy()
        self.stats = RetryStats()
        # How many "not found" answers a listing contradicted (access denied; safety rule 16).
        self.denied = 0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._monotonic = monotonic
        # The Date of the service's latest answer, and this machine's monotonic clock then.
        self._service_time: tuple[datetime, float] | None = None

    # Whether this adapter said in its log that it read this machine's clock for the service's
    # (it says so once); the lock keeps that once when tags are read side by side.
    _clock_fallback_said = False
    _clock_fallback_lock = threading.Lock()

    def _call(self, call: Callable[[], T]) -> T:
        answer = retrying(call, policy=self.policy, stats=self.stats, sleep=self._sleep)
        if isinstance(answer, dict):
            date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
            # A Date that tells no time for sure (missing, sent twice, without a zone, not a
            # date) gives this machine's time instead: a clock that cannot be read is no crash.
            when = service_time(date)
            if isinstance(when, Unreadable):
                self._say_clock_fallback(date, when.reason)
                when = datetime.now(UTC)
            self._service_time = (when, self._monotonic())
        return answer

    def _say_clock_fallback(self, date: object, reason: str) -> None:
        """Log, the first time only, that an answer's Date could not be used, and why."""
        with self._clock_fallback_lock:
            if self._clock_fallback_said:
                return
            self._clock_fallback_said = True
        logger.warning(
            "service clock unreadable: using this machine's",
            extra={"date_header": date, "reason": reason},
        )

    def now(self) -> datetime:
        """The service's time (backup ages are measured on the clock that dates the backups):
        the Date of its latest answer plus the time since, or this machine's before any answer
        or when that Date could not be read. Always timezone-aware, in UTC."""
        if self._service_time is None:
            return datetime.now(UTC)
        date, seen = self._service_time
        return date + timedelta(seconds=self._monotonic() - seen)

    def _mutate(
        self,
        call: Callable[[], T],
        *,
        confirm: Callable[[], T | None],
        refused: Callable[[ClientError], T | None],
    ) -> T:
        """Run a call that changes the account, with retries.

        An attempt that timed out or got a 5xx may have taken effect anyway. When the call then
        ends in any error (a retry refused, or the attempts spent), `confirm()` reads the account
        and the effect it finds is the result, whatever the last answer said. Otherwise a
        refusal may still be a result: `refused(error)` (None: the error stands). Raises
        OutcomeUnknown when the answer was lost and the check failed too.
        """
        uncertain = False

        def attempt() -> T:
            nonlocal uncertain
            try:
                return call()
            except ClientError as exc:
                retry, throttled = is_retryable(exc)
                uncertain = uncertain or (retry and not throttled)
                raise
            except TRANSIENT_ERRORS:
                uncertain = True
                raise

        try:
            return self._call(attempt)
        except (ClientError, BotoCoreError) as exc:
            if uncertain:
                try:
                    found = confirm()
                except (ClientError, BotoCoreError) as check:
                    raise OutcomeUnknown(
                        f"{exc}; whether it took effect is unknown, as checking failed: {check}"
                    ) from exc
                if found is not None:
                    return found
            settled = refused(exc) if isinstance(exc, ClientError) else None
            if settled is None:
                raise
            return settled

    def servers(self) -> list[Server]:
        # DescribeServers does not paginate (NextToken is documented as not implemented).
        answer = self._call(self.client.describe_servers)
        return [to_server(s) for s in answer.get("Servers", [])]

    def server(self, name: str) -> Server | None:
        """One server, or None when it does not exist (any more); see `_one`."""
        found = self._one(
            lambda: self.client.describe_servers(ServerName=name),
            "Servers",
            ("DescribeServers", name),
            lambda: self.server_listed(name),
        )
        return None if found is None else to_server(found)

    def _one(
        self,
        read: Callable[[], Any],
        key: str,
        what: tuple[str, str],
        listed: Callable[[], bool],
    ) -> Any | None:
        """The first item of the list at `key` of what `read` answers, or None when there is
        none, or when it says "not found" and the account's listing (`listed`) agrees (safety
        rule 16): a "not found" the listing contradicts is AccessDenied. `what`: the operation
        and the resource, for the error."""
        try:
            answer = self._call(read)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            if listed():
                self._denied(*what)
            return None
        items = answer.get(key, [])
        return items[0] if items else None

    def server_listed(self, name: str) -> bool:
        """Whether the account's listing (DescribeServers, no filter) shows the server."""
        return any(s.name == name for s in self.servers())

    def backup_listed(self, backup_id: str) -> bool:
        """Whether the account's listing (DescribeBackups, no filter) shows the backup."""
        return any(b.backup_id == backup_id for b in self.backups())

    def _denied(self, operation: str, resource: str) -> NoReturn:
        """`operation` answered "not found" for `resource`, which the account's listing still
        shows: count it (`denied`) and raise AccessDenied (safety rule 16)."""
        with self._lock:
            self.denied += 1
        raise AccessDenied(
            f"OpsWorks CM answered ResourceNotFoundException to {operation} for {resource}, "
            "which the account's listing still shows: access may be denied (a service "
            "control policy, a permissions boundary or the role)"
        )

    def backups(self, server_name: str | None = None) -> list[Backup]:
        """Every backup in the account (or of one server) from one call, newest first."""
        if server_name is None:
            answer = self._call(self.client.describe_backups)
        else:
            answer = self._call(lambda: self.client.describe_backups(ServerName=server_name))
        return [to_backup(b) for b in answer.get("Backups", [])]

    def backup(self, backup_id: str) -> Backup | None:
        """One backup, or None when it does not exist (any more); see `_one`."""
        found = self._one(
            lambda: self.client.describe_backups(BackupId=backup_id),
            "Backups",
            ("DescribeBackups", backup_id),
            lambda: self.backup_listed(backup_id),
        )
        return None if found is None else to_backup(found)

    def manual_backup_quota(self) -> Quota:
        return self._limit("ManualBackupLimit", default_maximum=50)

    def server_quota(self) -> Quota:
        """The account's servers: how many exist and how many may (restore drills take one)."""
        # Without a Maximum no slot is known to be free, so no drill starts.
        return self._limit("ServerLimit", default_maximum=0)

    def _limit(self, name: str, *, default_maximum: int) -> Quota:
        attributes = self._call(self.client.describe_account_attributes).get("Attributes", [])
        for attribute in attributes:
            if attribute.get("Name") == name:
                return Quota(
                    used=attribute.get("Used", 0),
                    maximum=attribute.get("Maximum", default_maximum),
                )
        raise UnexpectedAnswer(f"DescribeAccountAttributes did not report {name}")

    def wait_for_room(self, until: float) -> bool:
        """Poll the manual-backup quota, backing off, until a backup fits (True) or the
        monotonic clock would pass `until` (False). For a service that still counts backups
        being deleted toward the limit until they are gone."""
        delay = 1.0
        while self._monotonic() + delay <= until:
            self._sleep(delay)
            if self.manual_backup_quota().headroom > 0:
                return True
            delay = min(2 * delay, 15.0)
        return False

    def with_tags(self, servers: Sequence[Server]) -> list[Server]:
        """The servers with their tags (read side by side); one whose tags cannot be read keeps
        the reason instead, one gone meanwhile is GONE: a server's trouble stays its own."""

        def read(server: Server) -> Server:
            try:
                return dataclasses.replace(server, tags=self.tags(server))
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    answer = f"OpsWorks CM answered {error_code(exc)}: {error_message(exc)}"
                    return dataclasses.replace(server, tags_error=answer)
                return self._tags_not_found(server)
            except BotoCoreError as exc:
                return dataclasses.replace(server, tags_error=str(exc))

        with ThreadPoolExecutor(TAG_READERS) as pool:
            return list(pool.map(read, servers))

    def _tags_not_found(self, server: Server) -> Server:
        """The server whose tags OpsWorks CM said it could not find: GONE when the account's
        listing agrees, else failed with the reason (access denied, or the listing's own error)."""
        try:
            if self.server_listed(server.name):
                self._denied("ListTagsForResource", server.name)
        except (AccessDenied, ClientError, BotoCoreError) as denied:
            return dataclasses.replace(server, tags_error=str(denied))
        return dataclasses.replace(server, status=GONE)

    def events(self, server_name: str) -> list[ServerEventTypeDef]:
        """The server's latest events, newest first (one page: what explains a failure)."""
        answer = self._call(lambda: self.client.describe_events(ServerName=server_name))
        return list(answer.get("ServerEvents", []))

    def tags(self, server: Server) -> dict[str, str]:
        return self.tags_of(server.arn)

    def tags_of(self, arn: str) -> dict[str, str]:
        """The tags of a server or a backup (ListTagsForResource, every page)."""
        tags: dict[str, str] = {}
        page: dict[str, Any] = {"ResourceArn": arn}
        while True:
            answer = self._call(partial(self.client.list_tags_for_resource, **page))
            tags.update({t["Key"]: t["Value"] for t in answer.get("Tags", [])})
            if not answer.get("NextToken"):
                return tags
            page = {"ResourceArn": arn, "NextToken": answer["NextToken"]}

    def proven(self, backups: Sequence[Backup]) -> list[Backup]:
        """The backups with their ownership judged from their own tags (ownership.py), one
        ListTagsForResource each, side by side; one whose tags cannot be read is kept unproven."""

        def read(backup: Backup) -> Backup:
            if not backup.arn:
                return ownership.unread(backup, "the service gave no ARN for it")
            try:
                return ownership.proven(backup, self.tags_of(backup.arn))
            except ClientError as exc:
                answer = f"OpsWorks CM answered {error_code(exc)}: {error_message(exc)}"
                return ownership.unread(backup, answer)
            except BotoCoreError as exc:
                return ownership.unread(backup, str(exc))

        with ThreadPoolExecutor(TAG_READERS) as pool:
            return list(pool.map(read, backups))

    def tag_backup(self, backup: Backup, tags: Mapping[str, str]) -> None:
        """Add tags to a backup (TagResource). Raises ClientError as the service answers."""
        listed: list[TagTypeDef] = [{"Key": key, "Value": value} for key, value in tags.items()]
        self._call(lambda: self.client.tag_resource(ResourceArn=backup.arn, Tags=listed))

    def create_backup(
        self,
        server_name: str,
        description: str,
        *,
        tags: Mapping[str, str] | None = None,
        room_within: Callable[[], float] = lambda: 0.0,
    ) -> Backup:
        """Start a manual backup. Raises ClientError as the service answers, or OutcomeUnknown.

        When an attempt failed in a way that may have started the backup anyway (a timeout or a
        5xx), the server's backups are read before any error is believed: the backup that
        attempt started (found by its Description, which names the run) is returned.

        When the limit is full (LimitExceededException) and `room_within()`, asked then, gives
        more than 0 seconds, waits that long at most for room to appear, trying again each time
        it does: a service may count backups being deleted toward the limit until they are gone.
        """
        give_up: float | None = None

        def call() -> Backup:
            listed: list[TagTypeDef] = [
                {"Key": key, "Value": value} for key, value in (tags or {}).items()
            ]
            extra: dict[str, Any] = {"Tags": listed} if listed else {}
            answer = self.client.create_backup(
                ServerName=server_name, Description=description, **extra
            )
            return to_backup(answer["Backup"])

        def started() -> Backup | None:
            return next(
                (
                    b
                    for b in self.backups(server_name)
                    if b.description == description and b.status != "DELETING"
                ),
                None,
            )

        while True:
            try:
                return self._mutate(call, confirm=started, refused=lambda _: None)
            except ClientError as exc:
                # Gone only if the listing agrees (safety rule 16); else AccessDenied.
                if error_code(exc) == "ResourceNotFoundException" and self.server_listed(
                    server_name
                ):
                    self._denied("CreateBackup", server_name)
                if error_code(exc) != "LimitExceededException":
                    raise
                if give_up is None:
                    give_up = self._monotonic() + room_within()
                if not self.wait_for_room(give_up):
                    raise

    def delete_backup(self, backup_id: str) -> bool:
        """Start deleting a backup; False when somebody else had already deleted it (or is).

        When an attempt failed in a way that may have taken effect (a timeout or a 5xx), a
        backup found gone or DELETING afterwards was deleted by that attempt.
        """

        def status() -> str | None:
            backup = self.backup(backup_id)
            return None if backup is None else backup.status

        return self._delete(
            lambda: self.client.delete_backup(BackupId=backup_id),
            status,
            ("DeleteBackup", backup_id),
        )

    def delete_server(self, name: str) -> bool:
        """Start deleting a server; False when it was already gone or being deleted. As for
        `delete_backup`, a server found gone or DELETING after a lost attempt was deleted by it."""

        def status() -> str | None:
            found = self.server_status(name)
            return None if found is None else found[0]

        return self._delete(
            lambda: self.client.delete_server(ServerName=name), status, ("DeleteServer", name)
        )

    def _delete(
        self, call: Callable[[], object], status: Callable[[], str | None], what: tuple[str, str]
    ) -> bool:
        """Start a deletion with `call`; `status()` reads what it deletes (None: gone, as the
        account's listing confirms); `what` is the operation and the resource, for the error.
        A "not found" for a resource the reads still show is AccessDenied (safety rule 16)."""

        def attempt() -> bool:
            call()
            return True

        def going() -> bool | None:
            now = status()
            return True if now is None or now == "DELETING" else None

        def refused(exc: ClientError) -> bool | None:
            code = error_code(exc)
            if code not in ("ResourceNotFoundException", "InvalidStateException"):
                return None
            if going():
                return False
            if code == "ResourceNotFoundException":
                self._denied(*what)
            return None

        return self._mutate(attempt, confirm=going, refused=refused)

    def server_status(self, name: str) -> tuple[str, str] | None:
        """A server's Status and StatusReason, or None when it does not exist (any more)."""
        found = self.server(name)
        if found is None:
            return None
        return found.status, str(found.described.get("StatusReason", ""))

    def create_server(
        self, parameters: Mapping[str, Any], *, ours: Callable[[Server], bool] | None = None
    ) -> None:
        """Start creating a server. Raises ClientError as the service answers, or OutcomeUnknown.

        When an attempt failed in a way that may have created it anyway, a server of that name
        found afterwards is the one it created: any (a drill server's name is unique to its
        run), or with `ours` only one for which `ours(server)` holds; otherwise the error stands.
        """

        def call() -> bool:
            self.client.create_server(**parameters)
            return True

        def created() -> bool | None:
            found = self.server(parameters["ServerName"])
            return True if found is not None and (ours is None or ours(found)) else None

        self._mutate(call, confirm=created, refused=lambda _: None)


def to_server(data: Any) -> Server:
    return Server(
        name=data["ServerName"],
        status=data.get("Status", ""),
        arn=data.get("ServerArn", ""),
        engine=data.get("Engine", ""),
        created_at=data.get("CreatedAt"),
        described=data,
    )


def to_backup(data: Any) -> Backup:
    return Backup(
        backup_id=data["BackupId"],
        server_name=data.get("ServerName", ""),
        backup_type=data.get("BackupType", ""),
        status=data.get("Status", ""),
        created_at=data["CreatedAt"],
        description=data.get("Description") or "",
        engine=data.get("Engine", ""),
        status_description=data.get("StatusDescription") or "",
        arn=data.get("BackupArn") or "",
    )
