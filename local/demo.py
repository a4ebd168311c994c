"""make demo: the whole product on the embedded local cloud, in one process, in about a minute.

Synthesizes the stack, stands its tracker and restore drill state machines, alert topic and
tables up in moto next to the OpsWorks CM emulator, seeds a demo fleet, fires one scheduled run
through the real orchestrator handler, follows the tracker and the restore drill it started to
the end and prints what happened, then what `owcm-backup status` and `owcm-backup adopt` (a dry
run) say of the account.

Emulated time: each poll of the tracker or of the drill (one real second) stands for one emulated
minute.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from local import MODELS_DIR, fleet
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock
from local.emulator.faults import PollTime

if TYPE_CHECKING:
    from owcm_backup.follow import Waited

EMULATED_SECONDS_PER_POLL = 60
BACKUP_MINUTES = 4


def _prepare_environment() -> None:
    # moto logs every failed execution it interprets; the demo reports outcomes itself.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    # Everything stays in this process: fake credentials, the carried API model.
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_DATA_PATH": str(MODELS_DIR),
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_NAMESPACE": "OpsWorksCMBackup",
            "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
        }
    )
    os.environ.pop("AWS_PROFILE", None)


class Progress:
    def __init__(self, out: TextIO, steps: int) -> None:
        self.out = out
        self.steps = steps
        self.step = 0

    @contextmanager
    def __call__(self, text: str) -> Iterator[None]:
        self.step += 1
        started = time.monotonic()
        self.out.write(f"[{self.step}/{self.steps}] {text} ...")
        self.out.flush()
        yield
        self.out.write(f" done ({time.monotonic() - started:.1f} s)\n")
        self.out.flush()


@contextmanager
def _silenced_stdout() -> Iterator[None]:
    """Powertools writes EMF metrics to stdout; keep the demo's output for people."""
    saved = sys.stdout
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull
        try:
            yield
        finally:
            sys.stdout = saved


def run_demo(fleet_file: Path, out: TextIO) -> dict[str, Any]:
    """Run the demo and print its report to `out`; return the facts it printed."""
    _prepare_environment()
    import boto3
    from moto import mock_aws

    from backup_orchestrator.contract.settings import get_settings
    from backup_orchestrator.handlers.orchestrator import lambda_handler
    from local.cloud import LocalCloud, synthesize
    from local.runtime import LocalLambdaContext, wait_for_execution

    progress = Progress(out, 8)
    out.write("OpsWorks CM backup orchestrator: local demo (no AWS account needed)\n\n")
    with progress("Synthesizing the stack with cdk-nag"):
        template = synthesize()

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    emulator = Emulator(
        EmulatorConfig(backup_seconds=BACKUP_MINUTES * 60, delete_seconds=30),
        clock,
        rate=5,
        burst=10,
    )

    with (
        InProcessEndpoint(emulator),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        with progress("Starting the local cloud: OpsWorks CM emulator + moto"):
            cloud = LocalCloud(template).create()
            environment = cloud.function_environment()
            # A poll a second, each standing for a minute of the backups' lives: the deadline
            # counts polls, 60 of them.
            environment["POLL_SECONDS"] = "1"
            environment["DEADLINE_SECONDS"] = "60"
            # The drill polls like the tracker: a restore may take an hour of polls.
            environment["DRILL_DEADLINE_SECONDS"] = "60"
            os.environ.update(environment)
            get_settings.cache_clear()
        demo_fleet = fleet.load(fleet_file)
        with progress(f"Seeding the demo fleet from {fleet_file.name}"):
            fleet.seed(emulator, demo_fleet)
            before = _quota(emulator)
        slot = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        with (
            progress(f"Firing the schedule (slot {slot}) into the orchestrator"),
            _silenced_stdout(),
        ):
            report = lambda_handler(
                {"source": "schedule", "scheduledTime": slot}, LocalLambdaContext()
            )
        # The tracker reads the account once a poll: each read is a minute.
        emulator.faults.append(PollTime(emulator, clock, EMULATED_SECONDS_PER_POLL))
        emulator.faults.append(PollTime(emulator, clock, EMULATED_SECONDS_PER_POLL, on="server"))
        sfn = boto3.client("stepfunctions")
        execution: dict[str, Any] = {"status": "NOT STARTED"}
        if report.get("trackerExecutionArn"):
            with (
                progress("Following the tracker state machine (1 s = 1 emulated minute)"),
                _silenced_stdout(),
            ):
                execution = wait_for_execution(sfn, report["trackerExecutionArn"], out=out)
        drill: dict[str, Any] = {}
        started = [d for d in report["drills"] if d["outcome"] == "STARTED"]
        if started:
            with (
                progress(f"Following the restore drill of {started[0]['serverName']}"),
                _silenced_stdout(),
            ):
                drill = wait_for_execution(sfn, started[0]["executionArn"], out=out)
        retry: dict[str, Any] | None = None
        if report.get("nextTry"):
            # EventBridge Scheduler would fire the one-time schedule the run left; moto keeps it
            # but fires nothing, so the demo moves the clock to its time and delivers its input.
            schedule = boto3.client("scheduler").get_schedule(Name=report["nextTry"]["schedule"])
            due = datetime.fromisoformat(report["nextTry"]["at"])
            with (
                progress(f"Trying the busy servers again at {due:%H:%M} UTC, in the same slot"),
                _silenced_stdout(),
            ):
                clock.advance(max(0.0, (due - clock.now()).total_seconds()))
                retry = lambda_handler(
                    json.loads(schedule["Target"]["Input"]), LocalLambdaContext()
                )
            if retry.get("trackerExecutionArn"):
                with progress("Following the retry's backups"), _silenced_stdout():
                    wait_for_execution(sfn, retry["trackerExecutionArn"], out=out)
        alerts = cloud.alerts()
        after = _quota(emulator)
        final = {b.backup_id: b.status for b in emulator.backend.backups.values()}
        reasons = {b.backup_id: b.status_description for b in emulator.backend.backups.values()}
        servers = sorted(emulator.backend.servers)
        operator = _operator_commands()

    get_settings.cache_clear()
    facts = {
        "report": report,
        "retry": retry,
        "tracker": execution["status"],
        "drill": json.loads(drill.get("output") or "{}"),
        "alerts": alerts,
        "quotaBefore": before,
        "quotaAfter": after,
        "final": final,
        "servers": servers,
        "operator": operator,
    }
    _print_summary(out, facts, demo_fleet, reasons)
    return facts


# What an operator would run next: the servers' backups by tier and what awaits adoption, and
# what `adopt` would tag (a dry run).
OPERATOR_COMMANDS = (("status",), ("adopt",))


def _operator_commands() -> dict[str, str]:
    """What the operator CLI prints for each of OPERATOR_COMMANDS, run here on the account."""
    from owcm_backup.main import main as owcm_backup

    said = {}
    for command in OPERATOR_COMMANDS:
        with redirect_stdout(io.StringIO()) as text:
            owcm_backup(list(command))
        said[" ".join(command)] = text.getvalue()
    return said


def _quota(emulator: Emulator) -> dict[str, int]:
    backend = emulator.backend
    with backend.lock:
        backend.settle()
        return {
            "used": backend.manual_backups_used(),
            "maximum": backend.config.manual_backup_limit,
        }


def _as_waited(report: dict[str, Any], final: dict[str, str], reasons: dict[str, str]) -> Waited:
    """How the tracker left each new backup and its deferred deletions, as `run --wait` says it."""
    from owcm_backup.follow import VANISHED, Deletion, Done, Followed, Waited

    def done(backup_id: str, ok: bool) -> Done:
        if final.get(backup_id, "GONE") in ("DELETING", "GONE"):
            return Done.DELETED
        return Done.REFUSED if ok else Done.KEPT

    followed = []
    for result in report["results"]:
        if result["outcome"] != "STARTED":
            continue
        status = final.get(result["backupId"], VANISHED)
        deletions = [
            Deletion(d["backupId"], d["reason"], done(d["backupId"], status == "OK"))
            for d in result["deferredDeletes"]
        ]
        reason = "" if status == "OK" else reasons.get(result["backupId"], "").rstrip(". ")
        followed.append(
            Followed(result["serverName"], result["backupId"], deletions, status, reason)
        )
    return Waited(followed, by_tracker=True)


def _print_summary(
    out: TextIO, facts: dict[str, Any], demo_fleet: fleet.Fleet, reasons: dict[str, str]
) -> None:
    from owcm_backup.output import format_report

    report = facts["report"]
    final = facts["final"]
    out.write("\n" + format_report(report, _as_waited(report, final, reasons)) + "\n")
    retry = facts["retry"]
    if retry is not None:
        waited = _as_waited(retry, final, reasons)
        out.write("\nThe slot's busy servers, tried again:\n" + format_report(retry, waited) + "\n")

    selected_tag = os.environ.get("SELECT_TAG", "opsworks-cm-backup=enabled")
    reported = {r["serverName"] for r in report["results"]}
    unselected = [s for s in demo_fleet.servers if s.name not in reported and not s.deleted]
    if unselected:
        out.write("\nNot selected (no tag " + selected_tag + "): ")
        out.write(", ".join(s.name for s in unselected) + "\n")

    applied = [
        d["backupId"]
        for r in report["results"]
        for d in r["deferredDeletes"]
        if final.get(d["backupId"], "GONE") in ("DELETING", "GONE")
    ]
    out.write(
        f"\nRetention applied by the tracker after the new backups were OK: "
        f"{', '.join(applied) if applied else 'nothing'}\n"
    )
    foreign = sum(
        1 for s in demo_fleet.servers for b in s.backups if b.type == "MANUAL" and not b.own
    )
    before, after = facts["quotaBefore"], facts["quotaAfter"]
    out.write(
        f"Manual-backup quota: {before['used']}/{before['maximum']} before, "
        f"{after['used']}/{after['maximum']} after "
        f"({foreign} manual backups were made by someone else and were left alone)\n"
    )
    out.write(f"Tracker execution: {facts['tracker']}\n")
    _print_drill(out, report, facts["drill"])
    alerts = facts["alerts"]
    out.write(f"\nAlerts published to the SNS topic: {len(alerts)}\n")
    for alert in alerts:
        out.write(f"  Subject: {alert['subject']}\n")
        for line in alert["message"].splitlines():
            out.write(f"  | {line}\n")
    out.write("\nWhat the operator CLI says now:\n")
    for command, said in facts["operator"].items():
        out.write(f"\n$ owcm-backup {command}\n{said}")


def _print_drill(out: TextIO, report: dict[str, Any], drill: dict[str, Any]) -> None:
    """The restore drill the run started: what it restored, and the measured recovery time."""
    for entry in report["drills"]:
        out.write(
            f"\nRestore drill of {entry['serverName']}: {entry['outcome']}, {entry['reason']}\n"
        )
    if not drill:
        return
    result, age = drill["result"], drill["backupAgeSeconds"] / 86_400
    polls = round(result["seconds"] / drill["pollSeconds"])
    out.write(
        f"  recovery point: backup {drill['backupId']}, {age:.1f} days old when restored\n"
        f"  recovery time:  {result['outcome']} after {polls} polls of the new server (a deployed "
        f"drill polls every 60 s and reports {polls} x 60 s as RestoreDrillSeconds; here the "
        "emulated clock also moves with the tracker's polls meanwhile)\n"
        f"  drill server {drill['drillServer']} deleted and confirmed gone: "
        f"{'yes' if drill['cleanup']['confirmed'] else 'NO'}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=__doc__)
    parser.add_argument(
        "--fleet",
        type=Path,
        default=fleet.FLEETS_DIR / "demo.json",
        help="fleet file to seed (default local/fleets/demo.json)",
    )
    args = parser.parse_args(argv)
    try:
        run_demo(args.fleet, sys.stdout)
    except fleet.FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
