"""plan, run and delete-orphans: the function's code path, run from an operator's machine."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.events import InvalidRequestError, parse_event
from backup_orchestrator.domain.planner import orphaned
from backup_orchestrator.domain.records import Outcome, Server
from backup_orchestrator.run.orchestrate import run
from backup_orchestrator.run.services import Services
from owcm_backup import session
from owcm_backup.errors import CliError, Exit
from owcm_backup.follow import Done, Waited, follow
from owcm_backup.output import by_tier, format_report, orphan_entry, orphans_section
from owcm_backup.progress import progress_for


def _event(args: argparse.Namespace, dry_run: bool) -> dict[str, Any]:
    event: dict[str, Any] = {"dryRun": dry_run}
    if args.servers:
        # Each --servers is already a list; a name given twice is one server.
        event["servers"] = list(dict.fromkeys(name for group in args.servers for name in group))
    if args.retain is not None:
        event["retain"] = args.retain
    if args.retention is not None:
        event["retention"] = args.retention
    if getattr(args, "description", None):
        event["description"] = args.description
    return event


def _run_once(
    args: argparse.Namespace, dry_run: bool
) -> tuple[dict[str, Any], OpsWorksCM, tuple[str, str]]:
    """The run's report, the adapter it used, and the selection tag it went by."""
    settings = session.settings(args)
    request = parse_event(_event(args, dry_run), request_id=uuid.uuid4().hex)
    service = session.opsworkscm(args)
    services = Services(opsworkscm=service)
    if settings.tracker_state_machine_arn and not dry_run:
        services.stepfunctions = session.stepfunctions(args)
    try:
        report = run(request, settings, services)
    except InvalidRequestError:
        # run() refuses a request only for names that are not servers of the account.
        raise CliError(_unknown(service, request.servers or ())) from None
    return report.to_json(), service, settings.select_tag


def _unknown(service: OpsWorksCM, names: tuple[str, ...]) -> str:
    known = sorted(s.name for s in service.servers())
    missing = ", ".join(repr(n) for n in names if n not in known)
    return (
        f"--servers: no OpsWorks CM server named {missing} in {_region(service)} (its servers: "
        f"{', '.join(known) or 'none'})"
    )


def _region(service: OpsWorksCM) -> str:
    return str(service.client.meta.region_name)


def _selection(
    args: argparse.Namespace,
    service: OpsWorksCM,
    report: dict[str, Any],
    select_tag: tuple[str, str],
) -> tuple[str, str]:
    """What was selected, for the table; and, when nothing was, why (empty otherwise)."""
    chosen = [r["serverName"] for r in report["results"]]
    if args.servers:
        return f"Selected: {len(chosen)} named with --servers.", ""
    if chosen and args.json:
        # The report says it all to a program; the account need not be read again.
        return "", ""
    key, value = select_tag
    tag = f"{key}={value}"
    servers = service.servers()
    if chosen:
        others = sorted(s.name for s in servers if s.name not in chosen)
        left = f"; not selected (no tag {tag}): {', '.join(others)}" if others else ""
        return f"Selected: {len(chosen)} tagged {tag}{left}.", ""
    if not servers:
        return "", f"nothing selected: there is no OpsWorks CM server in {_region(service)}"
    lines = [
        f"nothing selected: none of the {len(servers)} servers in {_region(service)} carries the "
        f"tag {tag}",
        *_near_misses(service, servers, key, value),
        f"back up servers by name with --servers NAME, tag them (aws opsworkscm tag-resource "
        f"--resource-arn ARN --tags Key={key},Value={value}), or select by another tag with "
        "--select-tag KEY=VALUE",
    ]
    return "", "\n".join(lines)


def _near_misses(service: OpsWorksCM, servers: list[Server], key: str, value: str) -> list[str]:
    """Tags that look like the selection tag but are not it (keys and values are case-sensitive)."""
    found = []
    for server in servers:
        try:
            tags = service.tags(server)
        except ERRORS:
            continue
        for k, v in tags.items():
            if k.lower() != key.lower():
                continue
            why = "tags are case-sensitive" if v.lower() == value.lower() else "another value"
            found.append(f"  {server.name} has {k}={v} ({why})")
    return found


def _print_report(
    args: argparse.Namespace,
    report: dict[str, Any],
    selected: str,
    waited: Waited | None = None,
    tiers: dict[str, dict[str, int]] | None = None,
) -> None:
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(format_report(report, waited, tiers))
    if selected:
        print(f"\n{selected}")


def _by_tier(service: OpsWorksCM, report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each server of the report with its own OK manual backups by tier, as they are now."""
    names = {r["serverName"] for r in report["results"]}
    if not names:
        return {}
    backups = service.backups()
    return {s.name: by_tier(s, backups) for s in service.servers() if s.name in names}


def command_plan(args: argparse.Namespace) -> int:
    report, service, select_tag = _run_once(args, dry_run=True)
    selected, nothing = _selection(args, service, report, select_tag)
    tiers = _by_tier(service, report)
    report["backupsByTier"] = tiers
    _print_report(args, report, selected, tiers=tiers)
    if nothing:
        print(nothing, file=sys.stderr)
        return Exit.NOT_DONE
    return Exit.OK


def command_run(args: argparse.Namespace) -> int:
    report, service, select_tag = _run_once(args, dry_run=False)
    waited = None
    if args.wait:
        waited = follow(
            service,
            report,
            poll=args.poll,
            timeout=args.timeout,
            progress=progress_for(sys.stderr),
        )
        report["final"] = waited.to_json()
    selected, nothing = _selection(args, service, report, select_tag)
    _print_report(args, report, selected, waited)
    if waited and waited.interrupted:
        print(_interrupted(waited), file=sys.stderr)
        return Exit.INTERRUPTED
    if nothing:
        print(nothing, file=sys.stderr)
    refused = [d for b in (waited.backups if waited else []) for d in b.deletions if d.error]
    if refused:
        # As the tracker does: the backup is good, so a refused deletion is a warning.
        print(
            "retention problem: not deleted: "
            + "; ".join(f"{d.backup_id} ({d.error})" for d in refused),
            file=sys.stderr,
        )
    problems = _not_done(report, waited, named=bool(args.servers))
    if problems:
        print(f"not done: {'; '.join(problems)}", file=sys.stderr)
    return Exit.NOT_DONE if problems or nothing else Exit.OK


def _not_done(report: dict[str, Any], waited: Waited | None, *, named: bool) -> list[str]:
    """What a script must not take for success: a selected server (or, when named, any server)
    not backed up, a backup that did not end OK, a tracker that did not start."""
    problems = [
        f"{r['serverName']} not backed up ({r['outcome']})"
        for r in report["results"]
        if r["outcome"] == Outcome.FAILED or (named and r["outcome"] != Outcome.STARTED)
    ]
    problems += [
        f"{b.server_name}'s backup {b.backup_id} ended {b.status}"
        for b in (waited.backups if waited else [])
        if b.status != "OK"
    ]
    if report.get("trackerError"):
        problems.append("the tracker did not start")
    return problems


def _interrupted(waited: Waited) -> str:
    """Ctrl-C while waiting: the backups go on; say which deletions were not applied."""
    running = [b for b in waited.backups if b.pending]
    lines = [
        "interrupted: stopped waiting; the backups go on in OpsWorks CM"
        + (": " + ", ".join(f"{b.backup_id} ({b.server_name})" for b in running) if running else "")
    ]
    skipped = [(b, d) for b in waited.backups for d in b.deletions if d.done is Done.NOT_APPLIED]
    if skipped:
        lines.append(
            "retention deletions not applied: "
            + ", ".join(f"{d.backup_id} (once {b.backup_id} is OK)" for b, d in skipped)
            + "; the next run applies retention again, or delete them by hand once the new "
            "backup is OK: aws opsworkscm delete-backup --backup-id ID"
        )
    elif waited.by_tracker and running:
        lines.append("the tracker follows them and applies their retention deletions")
    return "\n".join(lines)


def command_delete_orphans(args: argparse.Namespace) -> int:
    """Delete backups of deleted servers, after showing them and asking (or with --yes)."""
    service = session.opsworkscm(args)
    found = [
        b
        for b in orphaned(service.servers(), service.backups())
        if b.status in ("OK", "FAILED")
        and (args.include_others or b.is_own)
        and (not args.server or b.server_name in args.server)
    ]
    if not found:
        print("No backups of deleted servers to delete.")
        return Exit.OK
    if not args.json:
        print(orphans_section([orphan_entry(b) for b in found])[-1])
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(
                f"{len(found)} backups of deleted servers found; nothing deleted: confirm with "
                "--yes (standard input is not a terminal to ask on)"
            )
        these = "this backup" if len(found) == 1 else f"these {len(found)} backups"
        answer = input(f"\nDelete {these}? This cannot be undone. Type {len(found)} to confirm: ")
        if answer.strip() != str(len(found)):
            print("Nothing deleted.")
            return Exit.OK
    outcome: list[dict[str, Any]] = []
    for backup in found:
        entry = orphan_entry(backup)
        try:
            entry["deleted"] = service.delete_backup(backup.backup_id)
        except ERRORS as exc:
            entry["deleted"], entry["error"] = False, str(exc)
        outcome.append(entry)
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        for entry in outcome:
            done = "deleting" if entry["deleted"] else entry.get("error", "already gone")
            print(f"{entry['backupId']}: {done}")
    return Exit.NOT_DONE if any("error" in entry for entry in outcome) else Exit.OK
