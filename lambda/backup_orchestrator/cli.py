"""owcm-backup: plan, run and inspect OpsWorks CM backups from an operator's machine.

The same code path as the Lambda (event validation, planner, orchestrator), against real AWS or
any endpoint (--endpoint-url, for example the local emulator).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator.clients import opsworkscm_client, service_pace
from backup_orchestrator.events import InvalidRequestError, parse_event
from backup_orchestrator.models import Backup, Outcome, Server
from backup_orchestrator.opsworkscm import OpsWorksCM, OutcomeUnknown
from backup_orchestrator.orchestrator import Services, run
from backup_orchestrator.planner import orphaned
from backup_orchestrator.report import RunReport
from backup_orchestrator.retry import RetryPolicy
from backup_orchestrator.settings import MODEL_FILE, Settings, SettingsError, parse_settings

PACKAGED_MODELS = Path(__file__).resolve().parent.parent / "models"


class CliError(Exception):
    """A problem the operator can fix; printed as one line."""


def ensure_model_path() -> None:
    """Point AWS_DATA_PATH at the packaged OpsWorks CM model when it does not reach one."""
    roots = [p for p in os.environ.get("AWS_DATA_PATH", "").split(os.pathsep) if p]
    if not any((Path(r) / MODEL_FILE).is_file() for r in roots) and PACKAGED_MODELS.is_dir():
        os.environ["AWS_DATA_PATH"] = os.pathsep.join([str(PACKAGED_MODELS), *roots])


# ---- output ---------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False))
        + ("  " if len(row) > 1 else "")
        + row[-1]
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def age(since: datetime, now: datetime | None = None) -> str:
    seconds = int(((now or datetime.now(UTC)) - since).total_seconds())
    days, rest = divmod(max(0, seconds), 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"


def format_report(report: dict[str, Any], final: dict[str, str] | None = None) -> str:
    """A run report as a person reads it: one row per server, then what was deleted and why."""
    quota = report["quota"]
    kind = "dry run, nothing changed" if report["dryRun"] else "run"
    lines = [
        f"Run {report['runId']} ({kind})",
        f"Manual backups: {quota['used']} of {quota['maximum']} used before; "
        f"{quota['usedAfterRun']} after the run; {quota['usedWhenSettled']} once retention is "
        "applied",
        "",
    ]
    headers = ["SERVER", "OUTCOME", "BACKUP", "RETAIN"] + (["FINAL"] if final else []) + ["WHY"]
    rows = []
    for result in report["results"]:
        retain = result["retain"]
        kept = "-" if retain["asked"] is None else f"{retain['granted'] or '-'}/{retain['asked']}"
        row = [result["serverName"], result["outcome"], result["backupId"] or "-", kept]
        if final:
            row.append(final.get(result["backupId"] or "", "-"))
        rows.append([*row, result["reason"]])
    lines.append(table(headers, rows))
    deletions = [
        (r["serverName"], when, d["backupId"], d["reason"])
        for r in report["results"]
        for when, key in (("now", "deleted"), ("after OK", "deferredDeletes"))
        for d in r[key]
    ]
    if deletions:
        verb = "would delete" if report["dryRun"] else "deletes"
        lines += ["", f"Retention and room ({verb}):"]
        lines.append(table(["SERVER", "WHEN", "BACKUP", "WHY"], deletions))
    warnings = [(r["serverName"], w) for r in report["results"] for w in r.get("warnings", [])]
    if warnings:
        lines += ["", "Warnings:", *(f"  {name}: {text}" for name, text in warnings)]
    lines += _orphans_section(report.get("backupsOfDeletedServers", []))
    if report.get("trackerExecutionArn"):
        lines += ["", f"Tracker: {report['trackerExecutionArn']}"]
    if report.get("trackerError"):
        lines += ["", f"Tracker NOT started: {report['trackerError']}"]
    return "\n".join(lines)


def _orphans_section(orphans: Sequence[dict[str, Any]]) -> list[str]:
    if not orphans:
        return []
    rows = [
        [o["serverName"], o["backupId"], o["status"], str(o["createdAt"])[:19], _maker(o["own"])]
        for o in orphans
    ]
    return [
        "",
        "Backups of deleted servers (never pruned by a run; `owcm-backup delete-orphans` removes "
        "them on request):",
        table(["SERVER", "BACKUP", "STATUS", "CREATED", "MADE BY"], rows),
    ]


def _maker(own: bool) -> str:
    return "this product" if own else "someone else"


# ---- commands -------------------------------------------------------------------------------


def _session(args: argparse.Namespace) -> boto3.session.Session:
    try:
        return boto3.session.Session(profile_name=args.profile, region_name=args.region)
    except BotoCoreError as exc:
        raise CliError(str(exc)) from None


def _service(args: argparse.Namespace) -> OpsWorksCM:
    client = opsworkscm_client(_session(args), pace=service_pace(), endpoint_url=args.endpoint_url)
    # A person is waiting: fewer, shorter retries than the Lambda's before saying what is wrong.
    return OpsWorksCM(client, RetryPolicy(attempts=5))


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "SELECT_TAG": args.select_tag,
        "PRUNE_SCOPE": args.prune_scope,
        "TRACKER_STATE_MACHINE_ARN": getattr(args, "tracker_arn", None),
    }
    environ = {**os.environ, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_settings(environ)


def _run_once(args: argparse.Namespace, dry_run: bool) -> tuple[dict[str, Any], Services]:
    settings = _settings(args)
    event: dict[str, Any] = {"dryRun": dry_run}
    if args.servers:
        event["servers"] = [name for group in args.servers for name in group.split(",") if name]
    if args.retain is not None:
        event["retain"] = args.retain
    if getattr(args, "description", None):
        event["description"] = args.description
    request = parse_event(event, request_id=uuid.uuid4().hex)
    services = Services(opsworkscm=_service(args))
    if settings.tracker_state_machine_arn and not dry_run:
        services.stepfunctions = _session(args).client("stepfunctions")
    report: RunReport = run(request, settings, services)
    return report.to_json(), services


def command_plan(args: argparse.Namespace) -> int:
    report, _ = _run_once(args, dry_run=True)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def command_run(args: argparse.Namespace) -> int:
    report, services = _run_once(args, dry_run=False)
    final: dict[str, str] | None = None
    if args.wait:
        final = follow(
            services.opsworkscm,
            report,
            poll=args.poll or 30,
            timeout=args.timeout,
            apply_deletes=not report.get("trackerExecutionArn"),
        )
        report["final"] = final
    print(json.dumps(report, indent=2) if args.json else format_report(report, final))
    failed = any(r["outcome"] == Outcome.FAILED for r in report["results"])
    return 1 if failed or (final and any(s != "OK" for s in final.values())) else 0


def follow(
    service: OpsWorksCM,
    report: dict[str, Any],
    *,
    poll: float,
    timeout: float,
    apply_deletes: bool,
) -> dict[str, str]:
    """Wait for the run's new backups to end; once one is OK, apply its deferred deletions
    (unless the tracker does). Returns backup id -> final status (TIMED_OUT if still running)."""
    started = [r for r in report["results"] if r["outcome"] == Outcome.STARTED]
    pending = {r["backupId"]: r for r in started}
    final: dict[str, str] = {}
    give_up = time.monotonic() + timeout
    while pending:
        statuses = {b.backup_id: b.status for b in service.backups()}
        for backup_id in list(pending):
            status = statuses.get(backup_id, "VANISHED")
            if status == "IN_PROGRESS":
                continue
            result = pending.pop(backup_id)
            final[backup_id] = status
            if status == "OK" and apply_deletes:
                for deletion in result["deferredDeletes"]:
                    service.delete_backup(deletion["backupId"])
        if not pending:
            break
        if time.monotonic() >= give_up:
            final.update(dict.fromkeys(pending, "TIMED_OUT"))
            break
        print(f"waiting: {len(pending)} of {len(started)} backups in progress", file=sys.stderr)
        time.sleep(poll)
    return final


def command_status(args: argparse.Namespace) -> int:
    service = _service(args)
    servers = service.servers()
    backups = service.backups()
    quota = service.manual_backup_quota()
    now = datetime.now(UTC)
    rows = [_server_status(s, backups, now) for s in servers]
    orphans = [_orphan(b) for b in orphaned(servers, backups)]
    if args.json:
        body = {
            "quota": {"used": quota.used, "maximum": quota.maximum},
            "servers": rows,
            "backupsOfDeletedServers": orphans,
        }
        print(json.dumps(body, indent=2, default=str))
        return 0
    print(
        f"Manual backups: {quota.used} of {quota.maximum} used ({quota.headroom} free, "
        "account-wide)\n"
    )
    print(
        table(
            ["SERVER", "ENGINE", "STATE", "NEWEST OK BACKUP", "AGE", "MANUAL", "AUTOMATED"],
            [
                [
                    r["serverName"],
                    r["engine"],
                    r["state"],
                    r["newestOkBackup"] or "-",
                    r["newestOkAge"] or "-",
                    _counts(r["manual"]),
                    _counts(r["automated"]),
                ]
                for r in rows
            ],
        )
    )
    if orphans:
        print("\n".join(_orphans_section(orphans)))
    return 0


def _orphan(backup: Backup) -> dict[str, Any]:
    return {
        "serverName": backup.server_name,
        "backupId": backup.backup_id,
        "status": backup.status,
        "createdAt": backup.created_at.isoformat(),
        "own": backup.is_own,
    }


def _server_status(server: Server, backups: list[Backup], now: datetime) -> dict[str, Any]:
    # Only this very server's backups: an earlier server of the same name is listed apart.
    mine = [b for b in backups if b.made_while(server)]
    ok = [b for b in mine if b.status == "OK"]
    newest = max(ok, key=lambda b: b.created_at, default=None)
    return {
        "serverName": server.name,
        "engine": server.engine,
        "state": server.status,
        "newestOkBackup": newest.backup_id if newest else None,
        "newestOkAge": age(newest.created_at, now) if newest else None,
        "manual": dict(Counter(b.status for b in mine if b.is_manual)),
        "automated": dict(Counter(b.status for b in mine if not b.is_manual)),
    }


def command_delete_orphans(args: argparse.Namespace) -> int:
    """Delete backups of deleted servers, after showing them and asking (or with --yes)."""
    service = _service(args)
    found = [
        b
        for b in orphaned(service.servers(), service.backups())
        if b.status in ("OK", "FAILED")
        and (args.include_others or b.is_own)
        and (not args.server or b.server_name in args.server)
    ]
    if not found:
        print("No backups of deleted servers to delete.")
        return 0
    if not args.json:
        print(_orphans_section([_orphan(b) for b in found])[-1])
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"{len(found)} backups of deleted servers found; nothing deleted: confirm with "
                "--yes (standard input is not a terminal to ask on)"
            )
        answer = input(
            f"\nDelete these {len(found)} backups? This cannot be undone. "
            f"Type {len(found)} to confirm: "
        )
        if answer.strip() != str(len(found)):
            print("Nothing deleted.")
            return 0
    outcome: list[dict[str, Any]] = []
    for backup in found:
        entry = _orphan(backup)
        try:
            entry["deleted"] = service.delete_backup(backup.backup_id)
        except (ClientError, BotoCoreError, OutcomeUnknown) as exc:
            entry["deleted"], entry["error"] = False, str(exc)
        outcome.append(entry)
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        for entry in outcome:
            done = "deleting" if entry["deleted"] else entry.get("error", "already gone")
            print(f"{entry['backupId']}: {done}")
    return 1 if any("error" in entry for entry in outcome) else 0


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "0"


# ---- parser ---------------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint-url", help="OpsWorks CM endpoint (for example the emulator)")
    common.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    common.add_argument("--profile", help="AWS named profile")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")

    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument(
        "--servers",
        action="append",
        metavar="NAME[,NAME...]",
        help="back up these servers, tagged or not (repeatable)",
    )
    selection.add_argument("--retain", type=int, help="backups to keep per server, 1-49")
    selection.add_argument("--select-tag", metavar="KEY=VALUE", help="selection tag (SELECT_TAG)")
    selection.add_argument(
        "--prune-scope", choices=["own", "all-manual"], help="what may be pruned (PRUNE_SCOPE)"
    )

    parser = argparse.ArgumentParser(
        prog="owcm-backup", description="Plan, run and inspect OpsWorks CM backups."
    )
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    plan = commands.add_parser(
        "plan", parents=[common, selection], help="dry run: what would be created and deleted"
    )
    plan.set_defaults(command=command_plan)
    run_parser = commands.add_parser(
        "run", parents=[common, selection], help="back up now (same code path as the Lambda)"
    )
    run_parser.add_argument("--description", help="text added to the backups' description")
    run_parser.add_argument("--wait", action="store_true", help="follow the backups to the end")
    run_parser.add_argument("--poll", type=_positive, help="seconds between checks (default 30)")
    run_parser.add_argument(
        "--timeout", type=_positive, default=3 * 3600, help="give up waiting after (s)"
    )
    run_parser.add_argument(
        "--tracker-arn", help="hand the backups to this deployed tracker state machine"
    )
    run_parser.set_defaults(command=command_run)
    status = commands.add_parser(
        "status", parents=[common], help="servers, their newest good backup, and the quota"
    )
    status.set_defaults(command=command_status)
    orphans = commands.add_parser(
        "delete-orphans",
        parents=[common],
        help="delete backups of servers that no longer exist (asks first)",
    )
    orphans.add_argument(
        "--server", action="append", metavar="NAME", help="only this deleted server (repeatable)"
    )
    orphans.add_argument(
        "--include-others",
        action="store_true",
        help="also backups this product did not make",
    )
    orphans.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    orphans.set_defaults(command=command_delete_orphans)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    ensure_model_path()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.command(args)
    except (SettingsError, InvalidRequestError, CliError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"error: AWS answered {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except (BotoCoreError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
