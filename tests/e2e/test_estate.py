"""An estate end to end: the synthesized estate's member stacks in two accounts x two regions
(moto), each account-region's OpsWorks CM in the emulator, a scheduled run per deployment
through the real handler, then the monitoring account's view: `owcm-backup status --deployments
--json`, the central stack's NonCompliantServers alarms (local/alarms.py) and the central alert
topic."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import boto3
from moto import mock_aws

from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.alarms import evaluate
from local.demo_estate import (
    DEPLOYMENTS,
    MONITORING,
    estate_config,
    outside_rpo,
)
from local.emulator import Emulator, ManualClock
from local.estate import EstateTemplates, LocalEstate, as_account, session_of
from local.fleet import add_own_backup
from owcm_backup.main import main

TAG = {"opsworks-cm-backup": "enabled"}
LATE = ("222222222222", "eu-west-1")


def test_the_monitoring_account_sees_every_server_and_the_late_one_alarms_and_alerts(
    emulator: Emulator, clock: ManualClock, estate_templates: EstateTemplates, tmp_path: Path
) -> None:
    with (
        patch.dict(os.environ, {"OPSWORKSCM_RATE": "1000"}),
        mock_aws(),
    ):
        estate = LocalEstate(estate_templates, DEPLOYMENTS, MONITORING).create()
        try:
            # Given a server with a day-old backup in each deployment, and in LATE a server
            # in maintenance whose newest good backup is two days old
            for account, region in DEPLOYMENTS:
                backend = emulator.backend_for(account, region)
                backend.add_server(f"chef-{region}", tags=TAG)
                add_own_backup(backend, f"chef-{region}", clock.now() - timedelta(days=1))
            late = emulator.backend_for(*LATE)
            late.add_server("chef-late", status="UNDER_MAINTENANCE", tags=TAG, busy_seconds=86_400)
            add_own_backup(late, "chef-late", clock.now() - timedelta(days=2))

            # When each deployment's schedule fires, and the alarms are evaluated
            slot = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
            reports = {}
            for place in DEPLOYMENTS:
                with estate.member(*place) as context:
                    event = {"source": "schedule", "scheduledTime": slot}
                    reports[place] = lambda_handler(event, context)
            clock.advance(600)
            states = {}
            for account, region in DEPLOYMENTS:
                alarm = estate.central_alarm(account, region, "NonCompliantServers")
                evaluate(
                    alarm,
                    outside_rpo(reports[account, region]),
                    name="unused",
                    account=MONITORING,
                    region=region,
                    session=session_of(MONITORING, region),
                )
                cloudwatch = session_of(MONITORING, region).client("cloudwatch")
                name = alarm["Properties"]["AlarmName"]
                [found] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
                states[account, region] = found["StateValue"]
            config = estate_config(tmp_path / "cdk.json")
            with as_account(MONITORING), redirect_stdout(io.StringIO()) as text:
                code = main(["status", "--deployments", "--config", str(config), "--json"])
            central = estate.central_alerts(LATE[1])
            quiet = estate.central_alerts("us-east-1")
        finally:
            estate.close()
            boto3.DEFAULT_SESSION = None

    # Then the central status lists every server of every deployment with its compliance
    assert code == 0
    body = json.loads(text.getvalue())
    seen = {
        (d["account"], d["region"], s["serverName"]): s["compliant"]
        for d in body["deployments"]
        for s in d["servers"]
    }
    expected = {(a, r, f"chef-{r}"): True for a, r in DEPLOYMENTS}
    assert seen == {**expected, (*LATE, "chef-late"): False}
    assert all(d["error"] is None for d in body["deployments"])
    # The late server's deployment alone raises its central alarm, in the monitoring account
    assert states == {place: "ALARM" if place == LATE else "OK" for place in DEPLOYMENTS}
    # The central inbox of its region has the compliance alert naming the server and account,
    # and the alarm's notification; the other region's has nothing
    [alert] = [a for a in central if a["subject"].startswith("OpsWorks CM backup:")]
    assert "- chef-late: newest good backup 48.0 h old" in alert["message"]
    assert alert["message"].startswith(f"From the stack in account {LATE[0]}, region {LATE[1]}")
    [alarmed] = [a for a in central if a["subject"].startswith("ALARM:")]
    notification = json.loads(alarmed["message"])
    assert notification["Trigger"]["AccountId"] == LATE[0]
    assert notification["NewStateValue"] == "ALARM"
    assert quiet == []
