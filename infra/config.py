"""The stack's configuration: one validated model, read from CDK context (cdk.json and -c)."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backup_orchestrator.models import RETAIN_MAX, RETAIN_MIN, PruneScope
from backup_orchestrator.validation import problems

# The retention periods CloudWatch Logs accepts, in days, and their aws_logs.RetentionDays names.
LOG_RETENTION_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")
# Step Functions log levels: ERROR logs only failures, ALL every transition (about 11 events
# per poll of each backup).
TrackerLogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]


class ConfigError(ValueError):
    """A context key is unknown or has a bad value; the message names the key."""


class Config(BaseModel):
    """Every setting of the deployed product. Keys are the CDK context keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schedule: Annotated[str, Field(description="EventBridge Scheduler cron expression")] = (
        "cron(0 2 * * ? *)"
    )
    time_zone: Annotated[str, Field(alias="timeZone")] = "UTC"
    select_tag: Annotated[str, Field(alias="selectTag")] = "opsworks-cm-backup=enabled"
    retain: Annotated[int, Field(ge=RETAIN_MIN, le=RETAIN_MAX)] = 7
    prune_scope: Annotated[PruneScope, Field(alias="pruneScope")] = PruneScope.OWN
    alert_email: Annotated[str | None, Field(alias="alertEmail")] = None
    poll_seconds: Annotated[int, Field(alias="pollSeconds", ge=10, le=3600)] = 60
    deadline_seconds: Annotated[int, Field(alias="deadlineSeconds", ge=300, le=86_400)] = 10_800
    powertools_layer_arn: Annotated[str | None, Field(alias="powertoolsLayerArn")] = None
    reserved_concurrency: Annotated[int, Field(alias="reservedConcurrency", ge=0, le=1)] = 1
    tracker_log_level: Annotated[TrackerLogLevel, Field(alias="trackerLogLevel")] = "ERROR"
    max_servers: Annotated[int, Field(alias="maxServers", ge=1, le=1000)] = 50
    watchdog_hours: Annotated[int, Field(alias="watchdogHours", ge=1, le=168)] = 26
    log_retention_days: Annotated[int, Field(alias="logRetentionDays")] = 90

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.match(value.strip()):
            raise ValueError(
                "must be an EventBridge Scheduler cron expression with six fields, "
                "for example cron(0 2 * * ? *)"
            )
        return value.strip()

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise ValueError("must be an IANA time zone name, for example Europe/London")
        return value

    @field_validator("select_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip() or not tag_value.strip():
            raise ValueError("must look like key=value, for example opsworks-cm-backup=enabled")
        return value

    @field_validator("alert_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _EMAIL.match(value):
            raise ValueError("must be an e-mail address")
        return value

    @field_validator("powertools_layer_arn")
    @classmethod
    def _layer(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _LAYER_ARN.match(value):
            raise ValueError(
                "must be a Lambda layer version ARN, for example "
                "arn:aws:lambda:eu-west-1:017000801446:layer:"
                "AWSLambdaPowertoolsPythonV3-python313-arm64:7"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @property
    def lambda_timeout_seconds(self) -> int:
        """Room for discovery plus two calls per server at the service's 5 requests/second,
        doubled for throttling by other callers, plus a minute for start-up and the hand-over;
        at most Lambda's 15 minutes."""
        calls = 3 + 3 * self.max_servers
        return min(900, 60 + 2 * -(-calls // 5))

    @property
    def tracker_timeout_seconds(self) -> int:
        """The tracker execution's own limit: the backup deadline plus time to clean up."""
        return self.deadline_seconds + 2 * self.poll_seconds + 3600


def keys() -> dict[str, str]:
    """Context key -> field name, for every key the product reads."""
    return {(f.alias or name): name for name, f in Config.model_fields.items()}


def from_context(context: dict[str, Any]) -> Config:
    """Build the config from CDK context. Raises ConfigError naming any unknown or bad key.

    Keys CDK itself uses (feature flags `@aws-cdk/...`, `aws:cdk:...`, cached look-ups with a
    colon) are ignored; any other key must be one of ours, so a typo is not silently dropped.
    """
    ours = keys()
    unknown = sorted(
        k
        for k in context
        if k not in ours
        and not k.startswith("@")
        and ":" not in k
        and k not in ("acknowledged-issue-numbers",)
    )
    if unknown:
        raise ConfigError(
            f"unknown context key {', '.join(map(repr, unknown))}; "
            f"the keys are: {', '.join(sorted(ours))}"
        )
    values = {k: v for k, v in context.items() if k in ours}
    try:
        return Config.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(
            "; ".join(
                f"context key {key}={context.get(key, '')!r}: {message}"
                for key, message in problems(exc)
            )
        ) from None
