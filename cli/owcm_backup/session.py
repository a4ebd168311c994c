"""The CLI's side of AWS: the carried API model, the session, and the adapter the function uses,
paced and retrying as the function does."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import BotoCoreError

from backup_orchestrator.aws.clients import opsworkscm_client, service_pace
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.contract.settings import MODEL_FILE, Settings, parse_settings
from owcm_backup.errors import CliError

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

# The model the runtime carries, beside the CLI in this checkout (cli/ and lambda/ are siblings).
PACKAGED_MODELS = Path(__file__).resolve().parents[2] / "lambda" / "models"
# The function's attempts, so throttling is ridden out as it is there; but no single wait longer
# than a second, since a person is waiting (an unreachable endpoint is reported within 8 s).
RETRIES = RetryPolicy(cap_seconds=1.0)
# What every command reads of the function's settings: its pace, and where the model is.
PACING = ("OPSWORKSCM_RATE", "AWS_DATA_PATH")


def ensure_model_path() -> None:
    """Point AWS_DATA_PATH at the packaged OpsWorks CM model when it does not reach one."""
    roots = [p for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if p]
    if not any((Path(r) / MODEL_FILE).is_file() for r in roots) and PACKAGED_MODELS.is_dir():
        os.environ["AWS_DATA_PATH"] = os.pathsep.join([str(PACKAGED_MODELS), *roots])


def settings(args: argparse.Namespace) -> Settings:
    """The function's settings from the environment, with the command's flags on top.
    Raises SettingsError naming the environment variable."""
    flags = {
        "SELECT_TAG": getattr(args, "select_tag", None),
        "PRUNE_SCOPE": getattr(args, "prune_scope", None),
        "TRACKER_STATE_MACHINE_ARN": getattr(args, "tracker_arn", None),
        "RPO_HOURS": getattr(args, "rpo_hours", None),
        "DRILL_STATE_MACHINE_ARN": getattr(args, "state_machine_arn", None),
    }
    return parse_settings({**os.environ, **{k: v for k, v in flags.items() if v is not None}})


def _rate() -> float:
    """OPSWORKSCM_RATE as the function reads it (the other settings are not every command's)."""
    return parse_settings({k: os.environ[k] for k in PACING if k in os.environ}).opsworkscm_rate


def session(args: argparse.Namespace) -> boto3.session.Session:
    try:
        return boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:
        raise CliError(str(exc)) from None


def opsworkscm(args: argparse.Namespace) -> OpsWorksCM:
    """The OpsWorks CM adapter, paced at OPSWORKSCM_RATE requests per second like the function.
    Raises SettingsError for a bad OPSWORKSCM_RATE, CliError for a bad endpoint or profile."""
    return opsworkscm_in(session(args), endpoint_url=args.endpoint_url)


def opsworkscm_in(
    given: boto3.session.Session, *, endpoint_url: str | None = None, region: str | None = None
) -> OpsWorksCM:
    """The OpsWorks CM adapter of `given`'s credentials (in `region`, default the session's),
    with a pace of its own at OPSWORKSCM_RATE: the service's rate is per account and region, so
    each account-region gets one. Raises SettingsError for a bad OPSWORKSCM_RATE, CliError for a
    bad endpoint."""
    pace = service_pace(_rate())
    try:
        client = opsworkscm_client(given, pace=pace, endpoint_url=endpoint_url, region_name=region)
    except ValueError as exc:
        # botocore's answer to an endpoint URL without its scheme (AWS_ENDPOINT_URL_OPSWORKSCM).
        raise CliError(f"{exc}: an endpoint URL starts with http:// or https://") from None
    return OpsWorksCM(client, RETRIES)


def stepfunctions(args: argparse.Namespace) -> SFNClient:
    return session(args).client("stepfunctions")
