"""The stack's configuration: one validated model, read from CDK context (cdk.json and -c): the
run's settings (`infra/config/basics.py`) and, here, the watchdog, compliance, logs and restore
drills, the cdk-nag rule packs, with the values derived from them."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from backup_orchestrator.contract.limits import (
    DELETIONS_ALLOWANCE,
    RPO_MAX,
    RPO_MIN,
    Frequency,
    drill_execution_seconds,
    problems,
    tracker_polls,
)
from infra.config.basics import RunSettings
from infra.config.cron import MAX_WATCH_HOURS, Gap, coming_gap

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
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"
_PROFILE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$"
# Busy servers are tried again for at most half a day after their slot; two hours by default.
MAX_RETRY_WINDOW_MINUTES = 720
DEFAULT_RETRY_WINDOW_MINUTES = 120


def _gap(info: ValidationInfo) -> Gap | None:
    """The schedule's gaps, when the schedule and time zone validated."""
    schedule, zone = info.data.get("schedule"), info.data.get("time_zone")
    return coming_gap(schedule, zone) if schedule and zone else None


class ConfigError(ValueError):
    """A context key is unknown or has a bad value; the message names the key."""


class RulePack(StrEnum):
    """The cdk-nag rule packs a synth can check the stack against (infra/constructs/nag.py)."""

    AWS_SOLUTIONS = "AwsSolutions"
    SERVERLESS = "Serverless"
    NIST_800_53_R5 = "NIST80053R5"
    HIPAA_SECURITY = "HIPAASecurity"
    PCI_DSS_321 = "PCIDSS321"


def _pack_names(value: Any) -> list[Any]:
    """The names in `value`: a list, JSON text of one (`["Serverless"]`, what the CDK CLI passes
    from `-c nagPacks='["Serverless"]'`), or names separated by commas, in brackets or not (what
    a shell leaves of that JSON once it has taken the quotes: `[Serverless,NIST80053R5]`)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = value.strip().removeprefix("[").removesuffix("]").split(",")
        if isinstance(value, str):
            value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError(
            'must be a list of cdk-nag rule packs, for example ["AwsSolutions","Serverless"]'
        )
    return [n.strip() if isinstance(n, str) else n for n in value if n != ""]


class Config(RunSettings):
    """Every setting of the deployed product. Keys are the CDK context keys."""

    watchdog_hours: Annotated[
        int | None,
        Field(
            alias="watchdogHours",
            ge=1,
            le=MAX_WATCH_HOURS,
            description=(
                "Alarm when no backup has succeeded for this many hours. Not set, it is the "
                "longest time between two runs of the schedule over the coming year (in its time "
                "zone, daylight saving included), plus `deadlineSeconds`, plus an hour, at most "
                "168: 28 for the default daily schedule, 77 for `cron(30 1 ? * MON-FRI *)` in "
                "`Europe/London` (Friday to Monday is 73 hours the weekend the clocks go back). A "
                "value shorter than that longest gap is refused, with the gap."
            ),
        ),
    ] = None
    log_retention_days: Annotated[
        int,
        Field(
            alias="logRetentionDays",
            json_schema_extra={"enum": list(LOG_RETENTION_DAYS)},
            description=(
                "Retention of the log groups, in days: a CloudWatch Logs retention value."
            ),
        ),
    ] = 90
    # Busy servers are tried again within this window after their slot; None derives it from
    # the schedule (see `retry_window`), 0 never tries again.
    retry_window_minutes: Annotated[
        int | None,
        Field(
            alias="retryWindowMinutes",
            ge=0,
            le=MAX_RETRY_WINDOW_MINUTES,
            description=(
                "How long after its slot, in minutes, a busy server is tried again; 0 never. Not "
                "set: 120, or half the schedule's shortest time between two runs if that is less "
                "(30 for an hourly schedule). It must be shorter than that shortest time."
            ),
        ),
    ] = None
    # The recovery point objective of a server without its own tag; None derives it from the
    # schedule (see `rpo`).
    rpo_hours: Annotated[
        int | None,
        Field(
            alias="rpoHours",
            ge=RPO_MIN,
            le=RPO_MAX,
            description=(
                "Recovery point objective, in hours, of a server without its own "
                "`opsworks-cm-backup:rpo-hours` tag. Not set: the schedule's longest gap + the "
                "retry window + `deadlineSeconds`, rounded up: 29 for the default daily schedule. "
                "A value shorter than the longest gap is refused."
            ),
        ),
    ] = None
    compliance_counts_automated: Annotated[
        bool,
        Field(
            alias="complianceCountsAutomated",
            description=(
                "Whether the service's automated backups count as good backups for compliance "
                "(they are kept only `BackupRetentionCount` deep and are deleted with their "
                "server, so by default only manual backups count)."
            ),
        ),
    ] = False
    # Restore drills: how often each selected server is drilled unless its tag says otherwise,
    # how long a restore may take, and the roles a drill may pass to OpsWorks CM (None: the
    # service's standard ones in the deploying account).
    restore_drill: Annotated[
        Frequency,
        Field(
            alias="restoreDrill",
            description=(
                "Restore drills of every selected server: `off`, `weekly` or `monthly`; a "
                "server's tag `opsworks-cm-backup:restore-drill` wins."
            ),
        ),
    ] = Frequency.OFF
    drill_deadline_seconds: Annotated[
        int,
        Field(
            alias="drillDeadlineSeconds",
            ge=1800,
            le=21_600,
            description=(
                "How long a drill's server may take to be `HEALTHY`, and as long again to wait "
                "for the server it restores to finish its backup; past it the drill is "
                "`TIMED_OUT`. The drill waits for its server's deletion for an hour at most (or "
                "this, if shorter), polls every `pollSeconds` (less often when a drill this long "
                "would not fit an execution's history: every 103 s at 6 hours), and its "
                "execution's own limit is twice this plus that hour and 15 minutes."
            ),
        ),
    ] = 7200
    drill_service_role_arn: Annotated[
        str | None,
        Field(
            alias="drillServiceRoleArn",
            pattern=_ROLE_ARN,
            description=(
                "The service role a drill may pass to OpsWorks CM; a server with another is not "
                "drilled (the reason says so). Not set: "
                "`arn:<partition>:iam::<account>:role/service-role/aws-opsworks-cm-service-role`."
            ),
        ),
    ] = None
    drill_instance_profile_arn: Annotated[
        str | None,
        Field(
            alias="drillInstanceProfileArn",
            pattern=_PROFILE_ARN,
            description=(
                "The instance profile a drill may give its server; a server with another is not "
                "drilled. Not set: "
                "`arn:<partition>:iam::<account>:instance-profile/aws-opsworks-cm-ec2-role`."
            ),
        ),
    ] = None
    drill_instance_role_arn: Annotated[
        str | None,
        Field(
            alias="drillInstanceRoleArn",
            pattern=_ROLE_ARN,
            validate_default=True,
            description=(
                "The role in that instance profile, which the drill may pass; required with "
                "`drillInstanceProfileArn`. Not set: "
                "`arn:<partition>:iam::<account>:role/service-role/aws-opsworks-cm-ec2-role`."
            ),
        ),
    ] = None

    nag_packs: Annotated[
        tuple[RulePack, ...],
        Field(
            alias="nagPacks",
            description=(
                "The cdk-nag rule packs the synth checks the stack against; a finding of any of "
                "them that is not acknowledged with a reason stops the synth. A list: in "
                "`cdk.json` a JSON list, on the command line "
                "`-c nagPacks=[Serverless,HIPAASecurity]` (JSON, or names separated by commas). "
                "See [compliance rule packs](../nag-packs.md)."
            ),
        ),
    ] = (RulePack.AWS_SOLUTIONS,)

    @field_validator("nag_packs", mode="before")
    @classmethod
    def _packs(cls, value: Any) -> tuple[str, ...]:
        names = _pack_names(value)
        packs = ", ".join(pack.value for pack in RulePack)
        if not names:
            raise ValueError(f"must name at least one cdk-nag rule pack of: {packs}")
        known = {pack.value for pack in RulePack}
        unknown = [n for n in names if not isinstance(n, str) or n not in known]
        if unknown:
            said = ", ".join(map(repr, unknown))
            verb = "is not a cdk-nag rule pack" if len(unknown) == 1 else "are not rule packs"
            raise ValueError(f"{said} {verb}; the packs are: {packs}")
        # Each once, in the order given.
        return tuple(dict.fromkeys(names))

    @field_validator("watchdog_hours")
    @classmethod
    def _watchdog(cls, value: int | None, info: ValidationInfo) -> int | None:
        schedule, zone = info.data.get("schedule"), info.data.get("time_zone")
        gap = coming_gap(schedule, zone) if schedule and zone else None
        if value is not None and gap is not None and value < gap.hours:
            raise ValueError(
                f"is shorter than the longest time between two runs of the schedule, "
                f"{gap.describe(ZoneInfo(zone or 'UTC'))}: the watchdog would alarm while no "
                f"backup is due. Use at least {math.ceil(gap.hours)}, or leave watchdogHours "
                "out to have it derived from the schedule"
            )
        return value

    @field_validator("retry_window_minutes")
    @classmethod
    def _window(cls, value: int | None, info: ValidationInfo) -> int | None:
        gap = _gap(info)
        if value is not None and gap is not None and value >= gap.shortest_hours * 60:
            raise ValueError(
                f"must be shorter than the schedule's shortest time between two runs "
                f"({gap.shortest_hours * 60:g} minutes): a slot's retries would run into the "
                "next slot"
            )
        return value

    @field_validator("rpo_hours")
    @classmethod
    def _rpo(cls, value: int | None, info: ValidationInfo) -> int | None:
        gap = _gap(info)
        if value is not None and gap is not None and value < gap.hours:
            raise ValueError(
                f"is shorter than the longest time between two runs of the schedule, "
                f"{gap.describe(ZoneInfo(info.data.get('time_zone') or 'UTC'))}: every server "
                f"would be out of its RPO before its next backup. Use at least "
                f"{math.ceil(gap.hours)}, or leave rpoHours out to have it derived"
            )
        return value

    @field_validator("drill_instance_role_arn")
    @classmethod
    def _instance_role_given(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("drill_instance_profile_arn") is not None:
            raise ValueError(
                "is needed with drillInstanceProfileArn: the role in that instance profile, "
                "which a drill passes to OpsWorks CM"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @property
    def watchdog(self) -> int:
        """Hours without a succeeded backup before the watchdog alarms: watchdogHours, or the
        longest gap between two runs of the schedule over the coming year plus the backup
        deadline (a backup counts once it is OK) and an hour for the run itself and the alarm's
        hourly periods, at most what CloudWatch can watch."""
        if self.watchdog_hours is not None:
            return self.watchdog_hours
        gap = coming_gap(self.schedule, self.time_zone)
        assert gap is not None, "the schedule validator rejects a schedule without runs"
        return min(MAX_WATCH_HOURS, math.ceil(gap.hours + self.deadline_seconds / 3600) + 1)

    @property
    def retry_window(self) -> int:
        """Minutes after its slot a busy server is tried again: retryWindowMinutes, or two hours,
        at most half the schedule's shortest time between two runs."""
        if self.retry_window_minutes is not None:
            return self.retry_window_minutes
        gap = coming_gap(self.schedule, self.time_zone)
        assert gap is not None, "the schedule validator rejects a schedule without runs"
        return min(DEFAULT_RETRY_WINDOW_MINUTES, math.floor(gap.shortest_hours * 60 / 2))

    @property
    def rpo(self) -> int:
        """The default recovery point objective in hours: rpoHours, or the schedule's longest
        gap plus the retry window and the backup deadline (a slot's backup may be tried that
        late and take that long), rounded up."""
        if self.rpo_hours is not None:
            return self.rpo_hours
        gap = coming_gap(self.schedule, self.time_zone)
        assert gap is not None, "the schedule validator rejects a schedule without runs"
        return math.ceil(gap.hours + self.retry_window / 60 + self.deadline_seconds / 3600)

    def function_settings(self) -> dict[str, str]:
        """The orchestrator function's settings this configuration decides, by the names of its
        environment (contract/settings.py): the stack gives them to the function, and
        `owcm-backup status --deployments` judges each deployment by them."""
        return {
            "SELECT_TAG": self.select_tag,
            "RETENTION": str(self.tiers),
            "TIME_ZONE": self.time_zone,
            "PRUNE_SCOPE": self.prune_scope.value,
            "POLL_SECONDS": str(self.poll_seconds),
            "DEADLINE_SECONDS": str(self.deadline_seconds),
            "RPO_HOURS": str(self.rpo),
            "COMPLIANCE_COUNTS_AUTOMATED": str(self.compliance_counts_automated).lower(),
            "RETRY_WINDOW_MINUTES": str(self.retry_window),
            "RESTORE_DRILL": self.restore_drill.value,
            "DRILL_DEADLINE_SECONDS": str(self.drill_deadline_seconds),
        }

    @property
    def lambda_timeout_seconds(self) -> int:
        """Room for discovery plus two calls per server at the service's 5 requests/second,
        doubled for throttling by other callers, plus a minute for start-up and the hand-over;
        at most Lambda's 15 minutes."""
        calls = 3 + 3 * self.max_servers
        return min(900, 60 + 2 * -(-calls // 5))

    @property
    def drill_timeout_seconds(self) -> int:
        """The drill execution's own limit (see drill_servers.execution_seconds)."""
        return drill_execution_seconds(self.drill_deadline_seconds)

    @property
    def tracker_timeout_seconds(self) -> int:
        """The tracker execution's own limit: its polls at the most (to the deadline, and the
        deletions the allowance plans for), plus an hour for the polls' own time and retries."""
        polls = tracker_polls(self.deadline_seconds, self.poll_seconds, DELETIONS_ALLOWANCE)
        return polls * self.poll_seconds + 3600


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
        # A key left out but checked against another is named by its field: give its key.
        named = {field: key for key, field in ours.items()}
        raise ConfigError(
            "; ".join(
                f"context key {named.get(key, key)}={context.get(named.get(key, key), '')!r}: "
                f"{message}"
                for key, message in problems(exc)
            )
        ) from None
