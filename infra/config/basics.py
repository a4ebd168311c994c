"""What every run reads: when it runs (the schedule in its time zone), which servers, how many
backups each keeps, how the tracker follows them, where alerts go. `infra/config/model.py` adds
the watchdog, compliance, logs and drills on top of it."""

from __future__ import annotations

import json
import math
import re
import zoneinfo
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from backup_orchestrator.contract.limits import (
    DELETIONS_ALLOWANCE,
    HISTORY_LIMIT,
    RETAIN_MAX,
    RETAIN_MIN,
    PruneScope,
    Retention,
    RetentionError,
    max_polls,
    parse_retention,
    polls_until,
    tracker_polls,
)
from infra.config.cron import MAX_WATCH_HOURS, coming_gap, parse

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LAYER_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+:\d+$")
# Step Functions log levels: ERROR logs only failures, ALL every transition (about 9 events per
# poll of a run, 11 per poll of a drill).
TrackerLogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]


class RunSettings(BaseModel):
    """The settings of one run. Keys are the CDK context keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # The time zone first: the schedule is read in it.
    time_zone: Annotated[
        str,
        Field(
            alias="timeZone",
            description=(
                "IANA time zone the schedule is read in, for example `Europe/London`. Daylight "
                "saving as the service applies it: a time the clocks skip does not run that day, "
                "a repeated time runs once."
            ),
        ),
    ] = "UTC"
    schedule: Annotated[
        str,
        Field(
            description=(
                "EventBridge Scheduler expression: `cron(minutes hours day-of-month month "
                "day-of-week year)` with exactly one of the two day fields `?` (day-of-week 1-7 "
                "is SUN-SAT; `L`, `W`, `#` as the service allows, except `LW`), or `rate(N "
                "minutes|hours|days)` (singular for 1). It must run at least once a week (the "
                "watchdog's reach); one-time `at(...)` is refused."
            ),
        ),
    ] = "cron(0 2 * * ? *)"
    select_tag: Annotated[
        str,
        Field(
            alias="selectTag",
            description="Servers carrying this tag, written `key=value`, are backed up.",
        ),
    ] = "opsworks-cm-backup=enabled"
    retain: Annotated[
        int | None,
        Field(
            ge=RETAIN_MIN,
            le=RETAIN_MAX,
            description=(
                "Own `OK` manual backups kept per server (7 when neither this nor `retention` is "
                "given): the same as `retention` `daily:N`. A server's tag "
                "`opsworks-cm-backup:retain=N` overrides it for that server, and a manual event's "
                "`retain` for that run."
            ),
        ),
    ] = None
    retention: Annotated[
        Retention | None,
        Field(
            description=(
                "Retention tiers per server, instead of `retain`: a JSON object such as "
                '`{"daily": 7, "weekly": 4, "monthly": 3}`, or the tag grammar '
                "`daily:7 weekly:4 monthly:3`. `daily` is required (at least 1); all the counts "
                "together at most 49. A server's tag `opsworks-cm-backup:retention` overrides "
                "it for that server, and a manual event's `retention` for that run."
            ),
        ),
    ] = None
    prune_scope: Annotated[
        PruneScope,
        Field(
            alias="pruneScope",
            description=(
                "`own` prunes only the backups this product made; `all-manual` also prunes manual "
                "backups made by others."
            ),
        ),
    ] = PruneScope.OWN
    alert_email: Annotated[
        str | None,
        Field(
            alias="alertEmail",
            description=(
                "E-mail address subscribed to the alert topic (confirm the subscription mail). "
                "Not set: no e-mail subscription."
            ),
        ),
    ] = None
    poll_seconds: Annotated[
        int,
        Field(
            alias="pollSeconds",
            ge=10,
            le=3600,
            description="How often, in seconds, the tracker checks a running backup.",
        ),
    ] = 60
    deadline_seconds: Annotated[
        int,
        Field(
            alias="deadlineSeconds",
            ge=300,
            le=86_400,
            description=(
                "A backup still `IN_PROGRESS` after this many seconds alerts. With `pollSeconds` "
                "it must leave at most 875 polls (for example at most 8750 s at 10 s polls, at "
                "least 99 s polls for a day): one tracker execution's history holds 887 polls, "
                "and 12 go to the first wait, the poll that sees the deadline passed and 1,000 "
                "deferred deletions at 100 a poll."
            ),
        ),
    ] = 10_800
    powertools_layer_arn: Annotated[
        str | None,
        Field(
            alias="powertoolsLayerArn",
            description=(
                "The Powertools layer, as a full layer version ARN. Not set: the layer of the "
                "Powertools release pinned in `lambda/requirements.txt`, looked up at deploy in "
                "the region's public SSM parameter "
                "`/aws/service/powertools/python/arm64/python3.14/<version>`; give an ARN where "
                "that parameter does not exist (other partitions, new regions)."
            ),
        ),
    ] = None
    reserved_concurrency: Annotated[
        int,
        Field(
            alias="reservedConcurrency",
            ge=0,
            le=1,
            description=(
                "Reserved concurrency of the function: `1` runs one invocation at a time, `0` "
                "reserves none (for accounts whose concurrency quota leaves no room to reserve; "
                "one run per slot still holds)."
            ),
        ),
    ] = 1
    tracker_log_level: Annotated[
        TrackerLogLevel,
        Field(
            alias="trackerLogLevel",
            description=(
                "The Step Functions log level of the tracker and of the drill: `ERROR`, `FATAL`, "
                "`ALL` (about 9 log events per poll of a run, 11 per poll of a drill) or `OFF`; "
                "logged events carry their execution data, the server and backup they are about."
            ),
        ),
    ] = "ERROR"
    max_servers: Annotated[
        int,
        Field(
            alias="maxServers",
            ge=1,
            le=1000,
            description=(
                "Fleet size the Lambda timeout is sized for: `60 s + 2 * (3 + 3 * servers) / 5 s`, "
                "at most Lambda's 15 minutes."
            ),
        ),
    ] = 50

    # None derives it from the schedule: see `watchdog`.
    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str, info: ValidationInfo) -> str:
        zone = info.data.get("time_zone")
        if zone is None:  # the time zone is wrong and says so; the grammar can still be checked
            parse(value, "UTC")
            return value.strip()
        gap = coming_gap(value, zone)
        if gap is None:
            raise ValueError("has no run in the coming year, or stops running within it")
        if gap.hours > MAX_WATCH_HOURS:
            raise ValueError(
                f"runs as much as {gap.describe(ZoneInfo(zone))} apart; the missed-backup "
                f"watchdog looks back at most {MAX_WATCH_HOURS} hours (CloudWatch's limit for "
                "an alarm), so the schedule must run at least once a week"
            )
        return value.strip()

    @field_validator("retention", mode="before")
    @classmethod
    def _tiers(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return None
        if info.data.get("retain") is not None:
            raise ValueError("give retain or retention, not both (retain=N is retention daily:N)")
        try:
            if isinstance(value, str) and not value.lstrip().startswith("{"):
                return parse_retention(value)
            counts = json.loads(value) if isinstance(value, str) else value
            if not isinstance(counts, dict):
                raise RetentionError('must be an object such as {"daily": 7, "weekly": 4}')
            unknown = sorted(set(counts) - {"daily", "weekly", "monthly"})
            if unknown:
                raise RetentionError(f"{unknown[0]!r} is not a tier: use daily, weekly or monthly")
            if "daily" not in counts:
                raise RetentionError('daily is required, for example {"daily": 7}')
            if not all(type(n) is int for n in counts.values()):
                raise RetentionError("every count must be a whole number")
            return Retention(**counts)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not JSON: {exc.msg}") from None
        except RetentionError as exc:
            raise ValueError(str(exc)) from None

    @property
    def tiers(self) -> Retention:
        """What each server keeps unless its tags or a manual event say otherwise."""
        if self.retention is not None:
            return self.retention
        return Retention.of_retain(7 if self.retain is None else self.retain)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise ValueError("must be an IANA time zone name, for example Europe/London")
        return value

    @field_validator("deadline_seconds")
    @classmethod
    def _history_fits(cls, value: int, info: ValidationInfo) -> int:
        poll = info.data.get("poll_seconds")
        limit = max_polls()
        if poll is None:
            return value
        polls = tracker_polls(value, poll, DELETIONS_ALLOWANCE)
        if polls > limit:
            spare = polls - polls_until(value, poll)
            raise ValueError(
                f"with pollSeconds={poll}, a run followed to this deadline takes up to {polls} "
                f"polls, and one tracker execution holds at most {limit} (Step Functions keeps "
                f"{HISTORY_LIMIT:,} events of an execution): raise pollSeconds to at least "
                f"{math.ceil(value / (limit - spare))} or lower deadlineSeconds to at most "
                f"{(limit - spare) * poll}"
            )
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
                "AWSLambdaPowertoolsPythonV3-python314-arm64:7"
            )
        return value
