"""make demo-estate: many accounts and regions, one central view, on the embedded local cloud.

Two member accounts x two regions, each with the demo fleet (local/fleets/demo.json) in its own
emulated OpsWorks CM account-region, and in one of them a late server: its newest good backup
two days old and in maintenance for a day, so no backup can start. The synthesized estate
(the member stack of each deployment, the central stack of each region) stands up in moto: each
member in its own account and region, with its read-only role, and the monitoring account's
central alert topic per region. One scheduled run per deployment goes
through the real handler as that deployment's function; then, from the monitoring account:
the central stack's NonCompliantServers alarm of each deployment is evaluated (local/alarms.py),
and
`owcm-backup status --deployments` reads every deployment through its read-only role.

Not played here: the tracker (its state machine is made, its executions are not run; the
emulated clock moves past the backups' length instead, so they end OK, and no deferred retention
deletion is applied), and the busy servers' retries.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from local import fleet
from local.demo import Progress, _prepare_environment, _silenced_stdout
from local.emulator import Emulator, EmulatorConfig, InProcessEndpoint, ManualClock

if TYPE_CHECKING:
    from local.estate import EstateTemplates

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
DEPLOYMENTS = tuple((a, r) for a in ACCOUNTS for r in REGIONS)
MONITORING = "999999999999"
LATE = ("222222222222", "eu-west-1", "chef-late")
BACKUP_MINUTES = 4


def seed_estate(emulator: Emulator, demo_fleet: fleet.Fleet) -> None:
    """The demo fleet in every deployment, and the late server in LATE's."""
    for account, region in DEPLOYMENTS:
        fleet.seed(emulator, demo_fleet, emulator.backend_for(account, region))
    account, region, name = LATE
    backend = emulator.backend_for(account, region)
    backend.add_server(
        name,
        status="UNDER_MAINTENANCE",
        tags={"opsworks-cm-backup": "enabled"},
        busy_seconds=86_400,
    )
    fleet.add_own_backup(backend, name, backend.clock.now() - timedelta(days=2))


def outside_rpo(report: dict[str, Any]) -> int:
    """What the run's NonCompliantServers metric carries: the servers out of their RPO with no
    backup of theirs under way (RunReport.outside_rpo)."""
    return sum(1 for c in report["compliance"] if not c["compliant"] and c["catchingUp"] is None)


def estate_config(path: Path) -> Path:
    """A cdk.json: the app's context with DEPLOYMENTS and the monitoring account."""
    app = json.loads((Path(__file__).resolve().parents[1] / "cdk.json").read_text())
    app["context"]["deployments"] = [{"account": a, "region": r} for a, r in DEPLOYMENTS]
    app["context"]["monitoringAccount"] = MONITORING
    path.write_text(json.dumps(app, indent=2))
    return path


def central_status(config: Path) -> tuple[int, str]:
    """`owcm-backup status --deployments --check` from the monitoring account: code and text."""
    from local.estate import as_account
    from owcm_backup.main import main as owcm_backup

    with as_account(MONITORING), redirect_stdout(io.StringIO()) as text:
        code = owcm_backup(["status", "--deployments", "--config", str(config), "--check"])
    return code, text.getvalue()


def run_estate_demo(out: TextIO, templates: EstateTemplates | None = None) -> dict[str, Any]:
    """Run the estate demo and print it to `out`; return the facts it printed. `templates`: the
    synthesized estate of DEPLOYMENTS and MONITORING (synthesized here when not given)."""
    _prepare_environment()
    from moto import mock_aws

    from backup_orchestrator.handlers.orchestrator import lambda_handler
    from local.alarms import evaluate
    from local.estate import LocalEstate, session_of, synthesize_estate

    progress = Progress(out, 6)
    out.write("OpsWorks CM backup orchestrator: an estate of 2 accounts x 2 regions, locally\n\n")
    if templates is None:
        with progress("Synthesizing 4 member and 2 central stacks with cdk-nag"):
            templates = synthesize_estate(DEPLOYMENTS, MONITORING)
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    emulator = Emulator(EmulatorConfig(backup_seconds=BACKUP_MINUTES * 60), clock, rate=0)
    with InProcessEndpoint(emulator), mock_aws():
        with progress("Standing up 4 member stacks and the central topics in moto"):
            estate = LocalEstate(templates, DEPLOYMENTS, MONITORING).create()
        try:
            with progress("Seeding the demo fleet in each, and a late server in one"):
                seed_estate(emulator, fleet.load(fleet.FLEETS_DIR / "demo.json"))
            slot = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            reports: dict[tuple[str, str], dict[str, Any]] = {}
            with progress(f"One scheduled run per deployment (slot {slot})"), _silenced_stdout():
                for place in DEPLOYMENTS:
                    with estate.member(*place) as context:
                        event = {"source": "schedule", "scheduledTime": slot}
                        reports[place] = lambda_handler(event, context)
                clock.advance(2 * BACKUP_MINUTES * 60)
            alarms = {}
            with progress("Evaluating the central NonCompliantServers alarms"):
                for account, region in DEPLOYMENTS:
                    alarm = estate.central_alarm(account, region, "NonCompliantServers")
                    alarms[account, region] = evaluate(
                        alarm,
                        outside_rpo(reports[account, region]),
                        name=alarm["Properties"]["AlarmName"],
                        account=MONITORING,
                        region=region,
                        session=session_of(MONITORING, region),
                    )
            with progress("Reading every deployment from the monitoring account"):
                config = estate_config(Path(tempfile.mkdtemp(prefix="estate-")) / "cdk.json")
                code, status = central_status(config)
            central = {region: estate.central_alerts(region) for region in REGIONS}
        finally:
            estate.close()
    facts = {
        "reports": reports,
        "alarms": alarms,
        "status": status,
        "statusCode": code,
        "central": central,
    }
    _print(out, facts)
    return facts


def _print(out: TextIO, facts: dict[str, Any]) -> None:
    out.write("\nScheduled runs:\n")
    for (account, region), report in facts["reports"].items():
        outcomes = ", ".join(f"{r['serverName']} {r['outcome']}" for r in report["results"])
        out.write(f"  {account} {region}: {outcomes}\n")
    out.write("\nCentral NonCompliantServers alarms (monitoring account " + MONITORING + "):\n")
    for (_account, region), alarm in facts["alarms"].items():
        out.write(f"  {region} {alarm.name}: {alarm.old_state} -> {alarm.new_state}\n")
    out.write(
        f"\n$ owcm-backup status --deployments --check   (exit {facts['statusCode']})\n"
        + facts["status"]
    )
    for region, alerts in facts["central"].items():
        out.write(f"\nCentral alert topic of {region}: {len(alerts)} received\n")
        for alert in alerts:
            out.write(f"  Subject: {alert['subject']}\n")
            for line in alert["message"].splitlines()[:6]:
                out.write(f"  | {line}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo_estate", description=__doc__)
    parser.parse_args(argv)
    run_estate_demo(sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
