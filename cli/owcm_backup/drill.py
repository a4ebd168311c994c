"""drill: one restore drill now, decided as a scheduled run decides its drills; and each server's
last drill for `status`.

With the drill state machine (--state-machine-arn, or DRILL_STATE_MACHINE_ARN: the stack output
DrillStateMachineArn) the drill is an execution of it, the same a scheduled run starts: it waits
for the server to be idle, keeps a server slot free for you, measures, deletes its server and
confirms it is gone, records the result, publishes the metrics and alerts. --wait follows it.

Without a state machine the command runs the drill itself, and so only with --wait (nothing
else would delete the server): it creates the server from the backup, follows it to HEALTHY or
FAILED or the deadline (DRILL_DEADLINE_SECONDS), measured on the service's clock, deletes it and
confirms it is gone. It records nothing, publishes no metric and sends no alert.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.history import History
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.stepfunctions import execution_arn, running_executions, start_execution
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import drill_servers, drills, marker
from backup_orchestrator.run.drills import drill_input
from owcm_backup import session
from owcm_backup.errors import CliError, Exit
from owcm_backup.output import table

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

# What a drill ends as, when it is done: only OK is a drill that proved its backup.
GOOD = ("OK", "STARTED", "PLANNED")


def command_drill(args: argparse.Namespace) -> int:
    """Plan the named servers' drills now and run (or show) them. Exit 1 when one did not
    start, or (with --wait) did not end OK with its server confirmed gone."""
    settings = session.settings(args)
    machine = settings.drill_state_machine_arn
    if machine is None and not args.wait and not args.dry_run:
        raise CliError(
            "--wait: without a drill state machine (--state-machine-arn or "
            "DRILL_STATE_MACHINE_ARN) the drill runs here and must be followed to its end, or "
            "nothing would delete its server; nothing was created"
        )
    names = [name for group in args.servers for name in group]
    service = session.opsworkscm(args)
    servers = service.with_tags(service.servers())
    backups = service.backups()
    try:
        drills.check_named(servers, backups, names, args.backup_id)
    except drills.DrillError as exc:
        raise CliError(str(exc)) from None
    sfn: SFNClient | None = session.stepfunctions(args) if machine else None
    running = running_executions(sfn, machine) if sfn is not None and machine else []
    run_id = marker.manual_run_id(uuid.uuid4().hex)
    now = service.now()
    plan = drills.plan(
        servers,
        backups,
        now=now,
        run_id=run_id,
        select_tag=settings.select_tag,
        default=settings.restore_drill,
        last={},
        running=drill_servers.running(servers, running),
        quota=service.server_quota(),
        roles=drills.Roles(settings.drill_service_role_arn, settings.drill_instance_profile_arn),
        named=names,
        backup_id=args.backup_id,
    )
    rows = [{"serverName": s.source, "outcome": "SKIPPED", "reason": s.reason} for s in plan.skips]
    for start in plan.starts:
        arn = execution_arn(machine, start.execution) if machine else None
        payload = drill_input(start, run_id=run_id, now=now, settings=settings, execution_arn=arn)
        row = _row(start, payload)
        if args.dry_run:
            row.update(
                outcome="PLANNED", reason="would create the server below", create=payload["create"]
            )
        elif sfn is not None and machine is not None:
            row["executionArn"] = start_execution(sfn, machine, start.execution, payload)
        else:
            row.update(_run_here(service, payload, poll=args.poll))
        rows.append(row)
    if args.wait and sfn is not None and not args.dry_run:
        _follow(sfn, rows, poll=args.poll, timeout=args.timeout or _limit(settings))
    print(json.dumps({"drills": rows}, indent=2) if args.json else _table(rows))
    return Exit.OK if all(r["outcome"] in GOOD for r in rows) else Exit.NOT_DONE


def _limit(settings: Settings) -> float:
    return float(drill_servers.execution_seconds(settings.drill_deadline_seconds))


def _row(start: drill_servers.Start, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "serverName": start.source.name,
        "outcome": "STARTED",
        "drillServer": start.drill_server,
        "backupId": start.backup.backup_id,
        "backupAgeSeconds": payload["backupAgeSeconds"],
        "reason": f"restoring backup {start.backup.backup_id} into {start.drill_server}",
    }


def _run_here(
    service: OpsWorksCM,
    payload: dict[str, Any],
    *,
    poll: float,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The drill without the state machine: create, follow to HEALTHY or FAILED or the
    deadline, then always delete and confirm the server is gone (times on the service's
    clock). The row's outcome, recovery time and cleanup."""
    name = payload["drillServer"]
    result: dict[str, Any] = {"secondsToHealthy": None, "cleanupConfirmed": False}
    created = False
    try:
        service.create_server(payload["create"])
        created = True
        began = service.now()
        status, reason = "CREATING", ""
        while True:
            status, reason = service.server_status(name) or ("GONE", "")
            elapsed = (service.now() - began).total_seconds()
            if status in ("HEALTHY", "FAILED", "GONE") or elapsed >= payload["deadlineSeconds"]:
                break
            print(f"waiting: {name} is {status} after {elapsed:.0f} s", file=sys.stderr)
            sleep(poll)
        outcome = {"HEALTHY": "OK", "FAILED": "FAILED", "GONE": "ERROR"}.get(status, "TIMED_OUT")
        said = f": {reason}" if reason else ""
        result.update(outcome=outcome, reason=f"{name} was {status} after {elapsed:.0f} s{said}")
        if outcome == "OK":
            result["secondsToHealthy"] = round(elapsed)
    except ERRORS as exc:
        result.update(outcome="ERROR", reason=f"the drill could not go on: {exc}")
    if not created:
        # CreateServer was refused: a server of the name, if any, is deleted only when it
        # carries every tag this drill gives its server.
        try:
            mine = _carries_the_drills_tags(service, name, payload)
        except ERRORS as exc:
            result["reason"] += (
                f"; whether {name} is this drill's server could not be read ({exc}): check it "
                f"(aws opsworkscm describe-servers --server-name {name}) and delete it if it "
                "carries this drill's tags"
            )
            return result
        if not mine:
            result["cleanupConfirmed"] = True
            return result
    result["cleanupConfirmed"] = _delete_here(
        service, name, within=payload["cleanupSeconds"], poll=poll, sleep=sleep
    )
    if not result["cleanupConfirmed"]:
        result["reason"] += (
            f"; URGENT: {name} could not be deleted or its deletion confirmed: delete it now "
            f"(aws opsworkscm delete-server --server-name {name})"
        )
    return result


def _carries_the_drills_tags(service: OpsWorksCM, name: str, payload: dict[str, Any]) -> bool:
    """Whether a server named `name` exists and carries every tag this drill gives its server
    (the server it restores, the backup, and the time its drill is over, to the second)."""
    wanted = {tag["Key"]: tag["Value"] for tag in payload["create"]["Tags"]}
    # The tags of that one server only: one ListTagsForResource, not one per server.
    found = service.with_tags([s for s in service.servers() if s.name == name])
    return bool(found) and all(found[0].tags.get(k) == v for k, v in wanted.items())


def _delete_here(
    service: OpsWorksCM, name: str, *, within: int, poll: float, sleep: Callable[[float], None]
) -> bool:
    """Delete the drill server (asking again while it is not DELETING) and wait until it is
    gone, at most `within` seconds on the service's clock. True when it is."""
    began = service.now()
    try:
        while (service.now() - began).total_seconds() < within:
            found = service.server_status(name)
            if found is None:
                return True
            if found[0] != "DELETING":
                service.delete_server(name)
            sleep(poll)
    except ERRORS as exc:
        print(f"error: deleting {name}: {exc}", file=sys.stderr)
    return False


def _follow(sfn: SFNClient, rows: list[dict[str, Any]], *, poll: float, timeout: float) -> None:
    """Wait for the started executions to end; each row gets what its drill recorded."""
    give_up = time.monotonic() + timeout
    pending = [r for r in rows if r.get("executionArn")]
    while pending:
        for row in list(pending):
            described = sfn.describe_execution(executionArn=row["executionArn"])
            if described["status"] == "RUNNING":
                continue
            pending.remove(row)
            output = json.loads(described.get("output") or "{}")
            result, cleanup = output.get("result", {}), output.get("cleanup", {})
            row.update(
                outcome=result.get("outcome", described["status"]),
                reason=result.get("line", described.get("cause", "")),
                secondsToHealthy=result.get("seconds") if result.get("ok") else None,
                cleanupConfirmed=cleanup.get("confirmed", False),
            )
        if pending and time.monotonic() >= give_up:
            for row in pending:
                row.update(outcome="STILL_RUNNING", reason="still running when waiting ended")
            return
        if pending:
            print(f"waiting: {len(pending)} drill(s) running", file=sys.stderr)
            time.sleep(poll)


def _gone(confirmed: bool | None) -> str:
    return "-" if confirmed is None else ("yes" if confirmed else "NO")


def _seconds(value: object) -> str:
    return "-" if value is None else f"{value} s"


def _table(rows: Sequence[dict[str, Any]]) -> str:
    body = [
        [
            r["serverName"],
            r["outcome"],
            r.get("drillServer") or "-",
            r.get("backupId") or "-",
            _seconds(r.get("backupAgeSeconds")),
            _seconds(r.get("secondsToHealthy")),
            _gone(r.get("cleanupConfirmed")),
            r["reason"],
        ]
        for r in rows
    ]
    headers = ["SERVER", "OUTCOME", "DRILL SERVER", "BACKUP", "RECOVERY POINT", "RECOVERY TIME"]
    text = table([*headers, "GONE", "WHY"], body)
    created = [json.dumps(r["create"], indent=2) for r in rows if "create" in r]
    return "\n\n".join([text, *(f"CreateServer would be called with:\n{c}" for c in created)])


def add_last_drills(
    args: argparse.Namespace, settings: Settings, rows: list[dict[str, Any]]
) -> None:
    """Give each `owcm-backup status` row its server's last restore drill (`lastDrill`: None
    when it has had none, or the history table, HISTORY_TABLE, is not set or not readable)."""
    history = settings.history_table
    last: dict[str, drills.LastDrill] = {}
    if history is not None:
        try:
            last = History(session.session(args).client("dynamodb"), history).last_drills()
        except ERRORS as exc:
            print(f"warning: the last restore drills were not read: {exc}", file=sys.stderr)
    for row in rows:
        drill = last.get(row["serverName"])
        row["lastDrill"] = (
            None
            if drill is None
            else {
                "result": drill.result,
                "startedAt": drill.started_at.isoformat(),
                "secondsToHealthy": drill.seconds,
                "backupId": drill.backup_id,
                "backupAgeSeconds": drill.backup_age_seconds,
                "drillServer": drill.drill_server,
                "cleanupConfirmed": drill.cleanup_confirmed,
                "line": drill.reason,
            }
        )


def print_last_drills(rows: Sequence[dict[str, Any]]) -> None:
    """The status command's section of last restore drills, when any server has had one."""
    drilled = [(r["serverName"], r["lastDrill"]) for r in rows if r.get("lastDrill")]
    if not drilled:
        return
    body = [
        [
            name,
            d["result"],
            d["startedAt"][:16].replace("T", " "),
            _seconds(d["secondsToHealthy"]),
            _seconds(d["backupAgeSeconds"]),
            _gone(d["cleanupConfirmed"]),
            d["line"],
        ]
        for name, d in drilled
    ]
    headers = ["SERVER", "RESULT", "STARTED (UTC)", "RECOVERY TIME", "RECOVERY POINT", "GONE"]
    print("\nLast restore drills:\n" + table([*headers, "WHAT HAPPENED"], body))
