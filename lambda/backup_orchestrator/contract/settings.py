"""The Lambda's settings, read from environment variables once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backup_orchestrator.contract.validation import problems
from backup_orchestrator.domain.compliance import RPO_MAX, RPO_MIN
from backup_orchestrator.domain.drills import Frequency
from backup_orchestrator.domain.records import PruneScope
from backup_orchestrator.domain.tiers import Retention, RetentionError, parse_retention

MODEL_FILE = Path("opsworkscm") / "2016-11-01" / "service-2.json"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    select_tag: Annotated[tuple[str, str], Field(alias="SELECT_TAG")] = (
        "opsworks-cm-backup",
        "enabled",
    )
    # The tiers each server keeps (tiers.py grammar, `daily:7 weekly:4 monthly:3`).
    retention: Annotated[Retention, Field(alias="RETENTION")] = Retention(daily=7)
    # The schedule's time zone: a backup's tier is decided by its slot's local date.
    time_zone: Annotated[str, Field(alias="TIME_ZONE")] = "UTC"
    prune_scope: Annotated[PruneScope, Field(alias="PRUNE_SCOPE")] = PruneScope.OWN
    tracker_state_machine_arn: Annotated[
        str | None, Field(alias="TRACKER_STATE_MACHINE_ARN", pattern=r"^arn:aws[a-z-]*:states:")
    ] = None
    idempotency_table: Annotated[str | None, Field(alias="IDEMPOTENCY_TABLE", min_length=3)] = None
    poll_seconds: Annotated[int, Field(alias="POLL_SECONDS", ge=1, le=3600)] = 60
    deadline_seconds: Annotated[int, Field(alias="DEADLINE_SECONDS", ge=60, le=86_400)] = 10_800
    # Requests per second the function allows itself against OpsWorks CM (the service's limit is
    # about 5); lower it to leave room for other tools that call the service in the account.
    opsworkscm_rate: Annotated[float, Field(alias="OPSWORKSCM_RATE", gt=0, le=1000)] = 5.0
    # Compliance: the default recovery point objective (the stack derives it from the schedule)
    # and whether automated backups count as good backups.
    rpo_hours: Annotated[int, Field(alias="RPO_HOURS", ge=RPO_MIN, le=RPO_MAX)] = 29
    compliance_counts_automated: Annotated[bool, Field(alias="COMPLIANCE_COUNTS_AUTOMATED")] = False
    history_table: Annotated[str | None, Field(alias="HISTORY_TABLE", min_length=3)] = None
    alert_topic_arn: Annotated[
        str | None, Field(alias="ALERT_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    ] = None
    # The estate's central alert topic (the monitoring account's, in this region): every alert
    # the run publishes to ALERT_TOPIC_ARN goes there too. Unset outside an estate.
    central_alert_topic_arn: Annotated[
        str | None, Field(alias="CENTRAL_ALERT_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:")
    ] = None
    # Busy servers of a scheduled slot are tried again within this window (0: never).
    retry_window_minutes: Annotated[int, Field(alias="RETRY_WINDOW_MINUTES", ge=0, le=720)] = 120
    retry_role_arn: Annotated[
        str | None, Field(alias="RETRY_ROLE_ARN", pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/")
    ] = None
    retry_schedule_prefix: Annotated[
        str, Field(alias="RETRY_SCHEDULE_PREFIX", pattern=r"^[0-9A-Za-z_.-]{1,30}$")
    ] = "opsworks-cm-backup-retry"
    dead_letter_arn: Annotated[
        str | None, Field(alias="DEAD_LETTER_ARN", pattern=r"^arn:aws[a-z-]*:sqs:")
    ] = None
    # Restore drills (see drills.py): the state machine that runs one, how often a selected
    # server is drilled unless its tag says otherwise, how long a restore may take, and the
    # roles a drill may pass (None: whatever the server uses).
    drill_state_machine_arn: Annotated[
        str | None, Field(alias="DRILL_STATE_MACHINE_ARN", pattern=r"^arn:aws[a-z-]*:states:")
    ] = None
    restore_drill: Annotated[Frequency, Field(alias="RESTORE_DRILL")] = Frequency.OFF
    drill_deadline_seconds: Annotated[
        int, Field(alias="DRILL_DEADLINE_SECONDS", ge=60, le=86_400)
    ] = 7200
    drill_service_role_arn: Annotated[
        str | None, Field(alias="DRILL_SERVICE_ROLE_ARN", pattern=r"^arn:aws[a-z-]*:iam::")
    ] = None
    drill_instance_profile_arn: Annotated[
        str | None, Field(alias="DRILL_INSTANCE_PROFILE_ARN", pattern=r"^arn:aws[a-z-]*:iam::")
    ] = None
    aws_data_path: Annotated[str, Field(alias="AWS_DATA_PATH")] = ""

    @field_validator("select_tag", mode="before")
    @classmethod
    def _tag(cls, value: Any) -> Any:
        if isinstance(value, str):
            key, sep, tag_value = value.partition("=")
            if not sep or not key.strip() or not tag_value.strip():
                raise ValueError("must look like key=value, for example opsworks-cm-backup=enabled")
            return (key.strip(), tag_value.strip())
        return value

    @field_validator("retention", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_retention(value)
            except RetentionError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "is not a time zone this runtime knows (an IANA name such as Europe/London)"
            ) from None
        return value

    @property
    def tiers(self) -> Retention:
        """What each server keeps unless its tags or the run say otherwise."""
        return self.retention

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @field_validator("aws_data_path")
    @classmethod
    def _model_on_path(cls, value: str) -> str:
        roots = [p for p in value.split(os.pathsep) if p]
        if not any((Path(root) / MODEL_FILE).is_file() for root in roots):
            raise ValueError(
                f"no directory in it holds {MODEL_FILE}; point it at the project's lambda/models "
                "(botocore no longer ships the OpsWorks CM model)"
            )
        return value


def parse_settings(environ: Mapping[str, str]) -> Settings:
    """Validate settings from an environment mapping. Raises SettingsError naming the variable."""
    names = {field.alias for field in Settings.model_fields.values() if field.alias}
    present = {k: v for k, v in environ.items() if k in names and v != ""}
    present.setdefault("AWS_DATA_PATH", "")
    try:
        return Settings.model_validate(present)
    except ValidationError as exc:
        raise SettingsError(
            "invalid setting "
            + "; ".join(
                f"{name}={environ.get(name, '')!r}: {message}" for name, message in problems(exc)
            )
        ) from None


@cache
def get_settings() -> Settings:
    """The settings of this Lambda container, read once."""
    return parse_settings(os.environ)
