"""The events the orchestrator accepts, validated into one run request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from backup_orchestrator.contract.validation import problems
from backup_orchestrator.domain import marker
from backup_orchestrator.domain.records import RETAIN_MAX, RETAIN_MIN
from backup_orchestrator.domain.tiers import Retention, RetentionError, parse_retention

SERVER_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]{0,39}")
MAX_DESCRIPTION = 256
# Schedule slots the product accepts: OpsWorks CM launched in 2016, and a slot more than a
# lifetime away is a broken event, not a backup to make.
EARLIEST_SLOT = datetime(2016, 1, 1, tzinfo=UTC)
LATEST_SLOT = datetime(2100, 1, 1, tzinfo=UTC)


class InvalidRequestError(ValueError):
    """The event is not one the orchestrator accepts; the message names the field."""


# A slot's busy servers are tried again at most this many times (see retry_schedule.py).
MAX_ATTEMPTS = 48


def _server_names(names: list[str]) -> list[str]:
    bad = [n for n in names if not SERVER_NAME.fullmatch(n)]
    if bad:
        raise ValueError(
            f"{bad[0]!r} is not an OpsWorks CM server name (a letter, then letters, digits or "
            "hyphens, at most 40 characters)"
        )
    if len(set(names)) != len(names):
        raise ValueError("a server is named more than once")
    return names


class ScheduledEvent(BaseModel):
    """What the EventBridge Scheduler schedule sends."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["schedule"]
    scheduled_time: Annotated[AwareDatetime, Field(alias="scheduledTime")]

    @field_validator("scheduled_time")
    @classmethod
    def _sane(cls, value: datetime) -> datetime:
        try:
            slot = value.astimezone(UTC)
        except OverflowError:
            slot = None
        if slot is None or not EARLIEST_SLOT <= slot < LATEST_SLOT:
            raise ValueError(
                f"must be a time from {EARLIEST_SLOT:%Y-%m-%d} to before {LATEST_SLOT:%Y-%m-%d} "
                "(UTC)"
            )
        return slot


class RetryEvent(ScheduledEvent):
    """What the product schedules for itself: the slot's busy servers, tried again, and those
    of them waiting for room an earlier try made for them (`waitingForRoom`, optional)."""

    source: Literal["retry"]  # type: ignore[assignment]
    attempt: Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPTS)]
    servers: Annotated[list[StrictStr], Field(min_length=1, max_length=1000)]
    waiting_for_room: Annotated[
        list[StrictStr], Field(alias="waitingForRoom", max_length=1000)
    ] = []

    @field_validator("servers")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return _server_names(names)

    @field_validator("waiting_for_room")
    @classmethod
    def _among_servers(cls, names: list[str], info: ValidationInfo) -> list[str]:
        names = _server_names(names)
        if "servers" not in info.data:
            return names  # `servers` itself is wrong, and says so
        strangers = [n for n in names if n not in info.data["servers"]]
        if strangers:
            raise ValueError(f"{strangers[0]!r} is not one of the servers the retry is for")
        return names


class ManualEvent(BaseModel):
    """What a person sends with `aws lambda invoke`; every field is optional.

    An event that names no servers and does not say `"dryRun": false` is a dry run: `{}` is what
    `aws lambda invoke` sends without `--payload`, and an accidental invoke must not back up the
    whole fleet and delete backups to make room. Named servers are backed up unless
    `"dryRun": true`.
    """

    model_config = ConfigDict(extra="forbid")

    servers: Annotated[list[StrictStr] | None, Field(min_length=1, max_length=200)] = None
    # None: not said, and then `dry_run` decides by whether servers are named.
    dry_run_asked: Annotated[StrictBool | None, Field(alias="dryRun")] = None
    retain: Annotated[StrictInt | None, Field(ge=RETAIN_MIN, le=RETAIN_MAX)] = None
    # The tiers for this run, in the tag grammar (`daily:3 weekly:2`); not with `retain`.
    retention: StrictStr | None = None
    description: Annotated[StrictStr | None, Field(max_length=MAX_DESCRIPTION)] = None

    @field_validator("servers")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        return None if names is None else _server_names(names)

    @field_validator("dry_run_asked", mode="before")
    @classmethod
    def _said(cls, value: Any) -> Any:
        # Leaving dryRun out means "decide by the servers"; a null is a mistake, not a choice.
        if value is None:
            raise ValueError("must be true or false")
        return value

    @field_validator("retention")
    @classmethod
    def _tiers(cls, text: str | None, info: ValidationInfo) -> str | None:
        if text is not None:
            if info.data.get("retain") is not None:
                raise ValueError("give retain or retention, not both")
            try:
                parse_retention(text)
            except RetentionError as exc:
                raise ValueError(str(exc)) from None
        return text

    @property
    def tiers(self) -> Retention | None:
        if self.retention is not None:
            return parse_retention(self.retention)
        return None if self.retain is None else Retention.of_retain(self.retain)

    @field_validator("description")
    @classmethod
    def _printable(cls, text: str | None) -> str | None:
        if text is not None and not text.isprintable():
            raise ValueError("must be printable text on one line")
        return text

    @property
    def dry_run(self) -> bool:
        if self.dry_run_asked is not None:
            return self.dry_run_asked
        return self.servers is None


@dataclass(frozen=True)
class RunRequest:
    """One run, whatever started it."""

    run_id: str
    scheduled: bool
    servers: tuple[str, ...] | None
    dry_run: bool
    # The tiers this run keeps whatever the servers' tags and the default say.
    retention: Retention | None
    description: str | None
    # Two deliveries of the same scheduled slot share this key, so only one run happens.
    idempotency_key: str
    # A retry of the slot's busy servers (its number, from 1), limited to these servers (still
    # selected by the tag); None for the slot's own run and for manual runs.
    attempt: int = 0
    retrying: tuple[str, ...] | None = None
    # Of those, the servers waiting for room an earlier try of the slot made for them.
    waiting_for_room: tuple[str, ...] = ()
    # The schedule slot (UTC) of a scheduled run or of its retry.
    slot: datetime | None = None


def _describe(exc: ValidationError) -> str:
    return "invalid event: " + "; ".join(
        f"field '{field or 'event'}': {message}" for field, message in problems(exc)
    )


def parse_event(event: Any, *, request_id: str) -> RunRequest:
    """Validate a scheduled or manual event. Raises InvalidRequestError naming the bad field."""
    if not isinstance(event, dict):
        raise InvalidRequestError(
            f"invalid event: expected a JSON object, got {type(event).__name__}"
        )
    try:
        if event.get("source") == "retry":
            retry = RetryEvent.model_validate(event)
            run_id = marker.scheduled_run_id(retry.scheduled_time)
            return RunRequest(
                run_id,
                True,
                None,
                False,
                None,
                None,
                idempotency_key=f"{run_id}-retry-{retry.attempt}",
                attempt=retry.attempt,
                retrying=tuple(retry.servers),
                waiting_for_room=tuple(retry.waiting_for_room),
                slot=retry.scheduled_time,
            )
        if "source" in event or "scheduledTime" in event:
            scheduled = ScheduledEvent.model_validate(event)
            run_id = marker.scheduled_run_id(scheduled.scheduled_time)
            return RunRequest(
                run_id, True, None, False, None, None, run_id, slot=scheduled.scheduled_time
            )
        manual = ManualEvent.model_validate(event)
        # Every delivery of one invocation has the same run id, so a retry after a crash finds
        # the backups its first attempt started.
        run_id = marker.manual_run_id(request_id)
    except ValidationError as exc:
        raise InvalidRequestError(_describe(exc)) from None
    except marker.MarkerError as exc:
        raise InvalidRequestError(f"invalid invocation: {exc}") from None
    return RunRequest(
        run_id=run_id,
        scheduled=False,
        servers=tuple(manual.servers) if manual.servers is not None else None,
        dry_run=manual.dry_run,
        retention=manual.tiers,
        description=manual.description,
        # A retried delivery of the same invocation keeps its request id.
        idempotency_key=f"manual-{request_id}",
    )
