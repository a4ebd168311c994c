"""status --deployments: the central view of an estate, from the monitoring account.

The estate is read from the CDK context of a cdk.json (`deployments`, `monitoringAccount`: the
keys the app deploys by, infra/config/estate.py). Each deployment is read with the read-only role
its member stack made (`OpsWorksCMBackupReadOnly-<region>`), assumed with the caller's
credentials (`--profile`: the monitoring account's), all deployments at once; each
deployment's OpsWorks CM calls keep to the service's rate of its account-region. Each server is
judged as `owcm-backup status` judges it, under its deployment's settings (selection tag, RPO,
retention, time zone, whether automated backups count).

Left out, as the read-only role reads OpsWorks CM only: the restore drills (the history table),
alert delivery (SNS) and the backups awaiting adoption (their tags); `owcm-backup status` in the
account shows them.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.retries import THROTTLING_CODES
from backup_orchestrator.contract.settings import Settings, SettingsError, parse_settings
from infra.config.estate import Deployment, Estate, estate_from_context
from infra.config.model import ConfigError
from owcm_backup.errors import CliError, Exit
from owcm_backup.output import table
from owcm_backup.session import PACING, opsworkscm_in, session
from owcm_backup.status import HEADERS, Account, read_account, status_row

ROLE_SESSION = "owcm-backup-status"
# Deployments read at once: each is paced at its own account-region's rate.
WORKERS = 8
# Flags of the single-account status that each deployment's own settings replace.
PER_DEPLOYMENT = (("select_tag", "--select-tag"), ("rpo_hours", "--rpo-hours"))


@dataclass(frozen=True)
class Read:
    """One deployment as status read it: its account, or why it could not be read."""

    deployment: Deployment
    account: Account | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        quota = self.account.quota if self.account else None
        return {
            "account": self.deployment.account,
            "region": self.deployment.region,
            "quota": {"used": quota.used, "maximum": quota.maximum} if quota else None,
            "servers": self.account.rows if self.account else [],
            "error": self.error,
        }

    @property
    def proven(self) -> bool:
        """Read, and every selected server compliant."""
        return self.account is not None and not self.account.late


def load_estate(path: Path) -> Estate:
    """The estate of the CDK context in `path` (a cdk.json). Raises CliError naming the file and
    the context key."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(
            f"--config: {path} does not exist (the app's cdk.json, whose context lists the "
            "deployments and the monitoringAccount)"
        ) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"--config: {path} is not a readable JSON file: {exc}") from None
    context = document.get("context") if isinstance(document, dict) else None
    if not isinstance(context, dict):
        raise CliError(f'--config: {path} has no "context" object (a cdk.json has)')
    try:
        estate = estate_from_context(context)
    except ConfigError as exc:
        raise CliError(f"--config {path}: {exc}") from None
    if not estate.deployments:
        raise CliError(
            f"--config {path}: context key deployments is missing or empty: list the "
            'account-regions, for example [{"account": "111111111111", "region": "eu-west-1"}]'
        )
    if not estate.monitoring_account:
        raise CliError(
            f"--config {path}: context key monitoringAccount is missing: the account whose "
            "credentials read the deployments (their read-only roles trust it)"
        )
    return estate


def deployment_settings(deployment: Deployment) -> Settings:
    """The settings the deployment's function runs with: those its configuration decides, as the
    stack gives them to the function (Config.function_settings), and this command's pace."""
    environment = {
        **deployment.config.function_settings(),
        **{k: os.environ[k] for k in PACING if k in os.environ},
    }
    return parse_settings(environment)


def read_deployment(args: argparse.Namespace, deployment: Deployment) -> Read:
    """Assume the deployment's read-only role and read its servers; any failure is the
    deployment's error, never the command's."""
    try:
        caller = session(args)
        sts = caller.client("sts", region_name=deployment.region)
        given = sts.assume_role(
            RoleArn=deployment.read_only_role_arn, RoleSessionName=ROLE_SESSION
        )["Credentials"]
        member = boto3.session.Session(
            aws_access_key_id=given["AccessKeyId"],
            aws_secret_access_key=given["SecretAccessKey"],
            aws_session_token=given["SessionToken"],
            region_name=deployment.region,
        )
        service = opsworkscm_in(member, endpoint_url=args.endpoint_url)
        return Read(deployment, read_account(service, deployment_settings(deployment)))
    except (*ERRORS, SettingsError, CliError) as exc:
        return Read(deployment, error=_said(exc))


def _said(exc: Exception) -> str:
    if not isinstance(exc, ClientError):
        return str(exc)
    error = exc.response.get("Error", {})
    said = f"AWS answered {error.get('Code')}: {error.get('Message')}"
    if error.get("Code") in THROTTLING_CODES:
        said += " (still throttled after every retry)"
    return said


def command_estate_status(args: argparse.Namespace) -> int:
    """Every server of every deployment, judged under its deployment's settings; --check: exit 1
    when a selected server anywhere is not compliant or a deployment could not be read."""
    for name, flag in PER_DEPLOYMENT:
        if getattr(args, name, None) is not None:
            raise CliError(
                f"{flag}: not with --deployments (each deployment's comes from its config)"
            )
    estate = load_estate(Path(args.config))
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(estate.deployments))) as pool:
        reads = list(pool.map(lambda d: read_deployment(args, d), estate.deployments))
    failed = not all(r.proven for r in reads)
    if args.json:
        print(json.dumps({"deployments": [r.to_json() for r in reads]}, indent=2))
    else:
        print_estate(reads)
    return Exit.NOT_DONE if args.check and failed else Exit.OK


def print_estate(reads: list[Read]) -> None:
    """A quota line per deployment, one table of every server, then why some are not
    compliant and which deployments could not be read."""
    for read in reads:
        where = f"{read.deployment.account} {read.deployment.region}"
        if read.account is None:
            print(f"{where}: NOT READ")
            continue
        quota = read.account.quota
        print(
            f"{where}: manual backups {quota.used} of {quota.maximum} used ({quota.headroom} free)"
        )
    print()
    rows: list[list[str]] = []
    for read in reads:
        place = [read.deployment.account, read.deployment.region]
        if read.account is None:
            rows.append([*place, "(not read)", *["-"] * 8, "UNKNOWN", *["-"] * 3])
            continue
        rows += [[*place, *status_row(row)] for row in read.account.rows]
    print(table(["ACCOUNT", "REGION", *HEADERS], rows))
    reasons = [
        f"  {r.deployment.account} {r.deployment.region} {row['serverName']}: {why}"
        for r in reads
        if r.account
        for row in r.account.rows
        for why in row["reasons"]
    ]
    if reasons:
        print("\nWhy not compliant:\n" + "\n".join(reasons))
    errors = [
        f"  {r.deployment.account} {r.deployment.region}: {r.error}" for r in reads if r.error
    ]
    if errors:
        print(
            "\nNot read (an account that cannot be read cannot prove its servers compliant):\n"
            + "\n".join(errors)
        )
