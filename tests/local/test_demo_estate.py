"""make demo-estate, end to end: four deployments, the late one raising the central alarm and
the central alert, and the central status naming every deployment."""

from __future__ import annotations

import io
import os
from unittest.mock import patch

from local.demo_estate import DEPLOYMENTS, LATE, MONITORING, run_estate_demo
from local.estate import EstateTemplates


def test_the_estate_demo_shows_every_deployment_and_the_central_alert(
    estate_templates: EstateTemplates,
) -> None:
    out = io.StringIO()

    # The demo sets the function's environment in its process: not for the tests that follow.
    with patch.dict(os.environ, {"OPSWORKSCM_RATE": "1000"}):
        facts = run_estate_demo(out, estate_templates)

    text = out.getvalue()
    status = text.split("$ owcm-backup status --deployments")[1]
    for account, region in DEPLOYMENTS:
        assert f"{account} {region}: manual backups" in status
        assert any(line.startswith(f"{account}  {region}") for line in status.splitlines())
    account, region, server = LATE
    [late] = [line for line in status.splitlines() if f" {server} " in line]
    assert late.startswith(f"{account}  {region}") and " NO " in late
    assert "(exit 1)" in text and facts["statusCode"] == 1
    states = {place: alarm.new_state for place, alarm in facts["alarms"].items()}
    assert states == {
        place: "ALARM" if place == (account, region) else "OK" for place in DEPLOYMENTS
    }
    received = text.split(f"Central alert topic of {region}: 2 received")[1]
    assert f"From the stack in account {account}, region {region}" in received
    assert f"- {server}: newest good backup 48.0 h old" in received
    # The central stack's own alarm on the member's metric
    alarm = f"OpsWorksCMBackupCentral-{account}-{region}-NonCompliantServers"
    assert f'ALARM: "{alarm}" in {region}' in received
    assert f'"AWSAccountId": "{MONITORING}"' in received
    assert "Central alert topic of us-east-1: 0 received" in text
