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
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator import compliance
from backup_orchestrator.clients import opsworkscm_client, service_pace
from backup_orchestrator.drill_command import add_drill_command, add_last_drills, print_last_drills
from backup_orchestrator.events import InvalidRequestError, parse_event
from backup_orchestrator.models import Backup, Outcome, Server
from backup_orchestrator.opsworkscm import OpsWorksCM, OutcomeUnknown
from backup_orchestrator.orchestrator import Services, run
from backup_orchestrator.planner import Policy, orphaned, resolve_retain
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


def _age(seconds: float) -> str:
    """An age as a person reads it: 3d 4h, 5h 12m, 7m."""
    days, rest = divmod(max(0, int(seconds)), 86_400)
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
    if report.get("compliance"):
        lines += ["", "Recovery point objectives:", format_compliance(report["compliance"])]
    if report.get("trackerExecutionArn"):
        lines += ["", f"Tracker: {report['trackerExecutionArn']}"]
    if report.get("trackerError"):
        lines += ["", f"Tracker NOT started: {report['trackerError']}"]
    return "\n".join(lines)


def format_compliance(judged: Sequence[dict[str, Any]]) -> str:
    """The servers against their recovery point objectives, as a person reads them."""
    rows = []
    for c in judged:
        verdict = "yes" if c["compliant"] else ("catching up" if c.get("catchingUp") else "NO")
        newest = c["newestOkBackup"] or "-"
        made = str(c["newestOkAt"])[:16].replace("T", " ") if c["newestOkAt"] else "-"
        age = "-" if c["ageSeconds"] is None else f"{c['ageSeconds'] / 3600:.1f} h"
        why = "; ".join(c.get("reasons") or []) or "-"
        rows.append(
            [
                c["serverName"],
                "yes" if c["selected"] else "no",
                f"{c['rpoHours']} h",
                newest,
                made,
                age,
                verdict,
                why,
            ]
        )
    headers = ["SERVER", "SELECTED", "RPO", "NEWEST GOOD BACKUP", "MADE (UTC)", "AGE", "COMPLIANT"]
    return table([*headers, "WHY NOT"], rows)


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
        "RPO_HOURS": getattr(args, "rpo_hours", None),
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
    """Every server: selected or not, its retention and RPO, its newest good backup and whether
    that is within the RPO; the quota; backups of deleted servers. --check: exit 1 when a
    selected server is not compliant."""
    settings = _settings(args)
    service = _service(args)
    servers = service.with_tags(service.servers())
    backups = service.backups()
    quota = service.manual_backup_quota()
    key, value = settings.select_tag
    selected = {s.name for s in servers if s.tags_error or s.tags.get(key) == value}
    judged = compliance.evaluate(
        [s for s in servers if s.name in selected],
        selected,
        backups,
        service.now(),
        default_rpo_hours=settings.rpo_hours,
        count_automated=settings.compliance_counts_automated,
    )
    verdicts = {c.server_name: c for c in judged}
    policy = Policy(select_tag=settings.select_tag, retain=settings.retain)
    rows = [_server_status(s, verdicts.get(s.name), backups, policy) for s in servers]
    add_last_drills(args, rows)
    orphans = [_orphan(b) for b in orphaned(servers, backups)]
    late = any(r["selected"] and not r["compliant"] for r in rows)
    if args.json:
        body = {
            "quota": {"used": quota.used, "maximum": quota.maximum},
            "servers": rows,
            "backupsOfDeletedServers": orphans,
        }
        print(json.dumps(body, indent=2))
        return 1 if args.check and late else 0
    print(
        f"Manual backups: {quota.used} of {quota.maximum} used ({quota.headroom} free, "
        "account-wide)\n"
    )
    print(
        table(
            [
                "SERVER",
                "ENGINE",
                "STATE",
                "SELECTED",
                "RETAIN",
                "RPO",
                "NEWEST GOOD BACKUP",
                "MADE (UTC)",
                "AGE",
                "COMPLIANT",
                "MANUAL",
                "AUTOMATED",
            ],
            [_status_row(r) for r in rows],
        )
    )
    print_last_drills(rows)
    reasons = [(r["serverName"], why) for r in rows for why in r["reasons"]]
    if reasons:
        print("\nWhy not compliant:\n" + "\n".join(f"  {name}: {why}" for name, why in reasons))
    if orphans:
        print("\n".join(_orphans_section(orphans)))
    return 1 if args.check and late else 0


def _status_row(row: dict[str, Any]) -> list[str]:
    if not row["selected"]:
        verdict = "-"
    elif row["compliant"]:
        verdict = "yes"
    else:
        verdict = "catching up" if row["catchingUp"] else "NO"
    seconds = row["newestOkAgeSeconds"]
    return [
        row["serverName"],
        row["engine"],
        row["state"],
        "yes" if row["selected"] else "no",
        "?" if row["retain"] is None else str(row["retain"]),
        f"{row['rpoHours']} h" if row["selected"] else "-",
        row["newestOkBackup"] or "-",
        (row["newestOkAt"] or "-")[:16].replace("T", " "),
        "-" if seconds is None else _age(seconds),
        verdict,
        _counts(row["manual"]),
        _counts(row["automated"]),
    ]


def _orphan(backup: Backup) -> dict[str, Any]:
    return {
        "serverName": backup.server_name,
        "backupId": backup.backup_id,
        "status": backup.status,
        "createdAt": backup.created_at.isoformat(),
        "own": backup.is_own,
    }


def _server_status(
    server: Server,
    verdict: compliance.Compliance | None,
    backups: list[Backup],
    policy: Policy,
) -> dict[str, Any]:
    # Only this very server's backups: an earlier server of the same name is listed apart.
    mine = [b for b in backups if b.made_while(server)]
    retain, retain_problem = resolve_retain(server, policy)
    newest = verdict.newest_ok if verdict else None
    return {
        "serverName": server.name,
        "engine": server.engine,
        "state": server.status,
        "selected": verdict is not None,
        "retain": retain,
        "rpoHours": verdict.rpo_hours if verdict else None,
        "newestOkBackup": newest.backup_id if newest else None,
        "newestOkAt": newest.created_at.isoformat() if newest else None,
        "newestOkAgeSeconds": (
            round(verdict.age_seconds) if verdict and verdict.age_seconds is not None else None
        ),
        "compliant": verdict.compliant if verdict else None,
        "catchingUp": verdict.catching_up if verdict else None,
        "summary": verdict.summary if verdict else None,
        "reasons": [
            *([retain_problem] if retain_problem else []),
            *([server.tags_error] if server.tags_error else []),
            *(verdict.reasons if verdict else ()),
        ],
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
        "status",
        parents=[common],
        help="servers, selection, retention, RPO and compliance, and the quota",
    )
    status.add_argument("--select-tag", metavar="KEY=VALUE", help="selection tag (SELECT_TAG)")
    status.add_argument(
        "--rpo-hours",
        metavar="N",
        help="recovery point objective of servers without their own tag (RPO_HOURS; the "
        "deployed stack's is the function's RPO_HOURS)",
    )
    status.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a selected server has no good backup within its RPO",
    )
    status.set_defaults(command=command_status, prune_scope=None)
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
    add_drill_command(commands, common)
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
