"""owcm-backup status --deployments: the estate's central view from the monitoring account.

IAM, STS and the member accounts are moto's (each account's resources are those made with its
credentials; the read-only roles trust the monitoring account, and `TrustChecks` plays IAM's
refusal of a role that does not exist or does not trust the caller); each account-region's
OpsWorks CM is the emulator's `backend_for` that account and region."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from infra.estate.member import STATUS_OPSWORKSCM_ACTIONS
from local.emulator import Emulator
from local.estate import TrustChecks, add_read_only_role, credentials
from local.fleet import add_own_backup
from owcm_backup.main import main

MONITORING = "999999999999"
DEPLOYMENTS = [
    ("111111111111", "us-east-1"),
    ("111111111111", "eu-west-1"),
    ("222222222222", "us-east-1"),
    ("222222222222", "eu-west-1"),
]
TAG = {"opsworks-cm-backup": "enabled"}


def cdk_json(tmp_path: Path, deployments: list[dict[str, Any]], **context: Any) -> Path:
    """A cdk.json whose context is the app's with the estate's keys."""
    app = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())
    app["context"].update(deployments=deployments, monitoringAccount=MONITORING, **context)
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps(app))
    return path


@pytest.fixture
def estate(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """Two accounts x two regions, each with a compliant server (a day-old backup) named after
    its place; the read-only roles made; the caller holds the monitoring account's
    credentials."""
    with mock_aws():
        trust = TrustChecks().install()
        for account, region in DEPLOYMENTS:
            add_read_only_role(account, region, MONITORING)
            backend = emulator.backend_for(account, region)
            name = f"chef-{account[:1]}-{region}"
            backend.add_server(name, tags=TAG)
            add_own_backup(backend, name, backend.clock.now() - timedelta(days=1))
        given = credentials(MONITORING)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", given["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", given["aws_secret_access_key"])
        monkeypatch.setenv("AWS_SESSION_TOKEN", given["aws_session_token"])
        monkeypatch.setenv("OPSWORKSCM_RATE", "1000")
        try:
            yield emulator
        finally:
            trust.uninstall()


def deployments_json(config: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> Any:
    code = main(["status", "--deployments", "--config", str(config), "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


def entries(accounts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"account": a, "region": r} for a, r in accounts]


def test_one_table_names_every_server_of_every_deployment_with_its_compliance(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cdk_json(tmp_path, entries(DEPLOYMENTS))

    code = main(["status", "--deployments", "--config", str(config), "--check"])

    out = capsys.readouterr().out
    assert code == 0
    header = next(line for line in out.splitlines() if line.startswith("ACCOUNT"))
    assert header.split()[:4] == ["ACCOUNT", "REGION", "SERVER", "ENGINE"]
    for account, region in DEPLOYMENTS:
        [line] = [x for x in out.splitlines() if x.startswith(f"{account}  {region}")]
        assert f"chef-{account[:1]}-{region}" in line and " yes " in line
        assert f"{account} {region}: manual backups 1 of 50 used" in out
    # Each account-region's own servers only: four rows, one per deployment.
    assert sum(1 for line in out.splitlines() if " chef-" in line) == 4


def test_json_gives_each_deployment_its_quota_servers_and_no_error(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cdk_json(tmp_path, entries(DEPLOYMENTS))

    code, body = deployments_json(config, capsys)

    assert code == 0
    assert [(d["account"], d["region"]) for d in body["deployments"]] == DEPLOYMENTS
    for deployment in body["deployments"]:
        assert set(deployment) == {"account", "region", "quota", "servers", "error"}
        assert deployment["quota"] == {"used": 1, "maximum": 50}
        assert deployment["error"] is None
        [server] = deployment["servers"]
        name = f"chef-{deployment['account'][:1]}-{deployment['region']}"
        assert (server["serverName"], server["selected"], server["compliant"]) == (
            name,
            True,
            True,
        )


def test_a_late_server_anywhere_fails_the_check_and_says_why_with_its_place(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a server in 222222222222/eu-west-1 whose newest good backup is three days old
    backend = estate.backend_for("222222222222", "eu-west-1")
    backend.add_server("puppet-late", engine="Puppet", tags=TAG)
    add_own_backup(backend, "puppet-late", backend.clock.now() - timedelta(days=3))
    config = cdk_json(tmp_path, entries(DEPLOYMENTS))

    code = main(["status", "--deployments", "--config", str(config), "--check"])

    out = capsys.readouterr().out
    assert code == 1
    [line] = [x for x in out.splitlines() if "puppet-late" in x and x.startswith("2222")]
    assert line.split()[:2] == ["222222222222", "eu-west-1"] and " NO " in line


def test_each_deployment_is_judged_by_its_own_selection_tag(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 111111111111/eu-west-1 selects by another tag, which its server does not carry
    given = entries(DEPLOYMENTS)
    given[1]["selectTag"] = "backup=yes"
    config = cdk_json(tmp_path, given)

    _, body = deployments_json(config, capsys)

    selected = {
        (d["account"], d["region"]): d["servers"][0]["selected"] for d in body["deployments"]
    }
    assert selected == {place: place != ("111111111111", "eu-west-1") for place in DEPLOYMENTS}


def test_an_account_whose_role_cannot_be_assumed_is_an_error_row_and_fails_the_check(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a third account where the member stack (and so its read-only role) is not deployed
    config = cdk_json(tmp_path, entries([*DEPLOYMENTS, ("333333333333", "us-east-1")]))

    code, body = deployments_json(config, capsys, "--check")
    table_code = main(["status", "--deployments", "--config", str(config)])
    out = capsys.readouterr().out

    assert code == 1
    *read, denied = body["deployments"]
    assert all(d["error"] is None and d["servers"] for d in read)
    assert (denied["account"], denied["region"], denied["servers"]) == (
        "333333333333",
        "us-east-1",
        [],
    )
    assert denied["quota"] is None
    assert denied["error"].startswith("AWS answered AccessDenied: ")
    assert "OpsWorksCMBackupReadOnly-us-east-1" in denied["error"]
    # The table still shows every readable server, and the unread account as a row.
    assert table_code == 0
    [row] = [x for x in out.splitlines() if x.startswith("333333333333") and "(not read)" in x]
    assert "(not read)" in row and "UNKNOWN" in row
    assert "333333333333 us-east-1: AWS answered AccessDenied" in out.split("Not read")[1]


def test_a_role_that_does_not_trust_the_caller_is_refused_for_that_account_only(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 444444444444's role trusts another monitoring account
    add_read_only_role("444444444444", "us-east-1", "888888888888")
    config = cdk_json(tmp_path, entries([DEPLOYMENTS[0], ("444444444444", "us-east-1")]))

    code, body = deployments_json(config, capsys, "--check")

    assert code == 1
    ok, refused = body["deployments"]
    assert ok["error"] is None
    assert "does not name the caller" in refused["error"]


@pytest.mark.parametrize(
    ("context", "said"),
    [
        ({"monitoringAccount": ""}, "context key monitoringAccount is missing"),
        ({"deployments": []}, "context key deployments is missing or empty"),
        ({"deployments": [{"account": "1", "region": "us-east-1"}]}, "deployments[0].account"),
    ],
)
def test_a_config_without_the_estate_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], context: dict[str, Any], said: str
) -> None:
    config = cdk_json(tmp_path, entries(DEPLOYMENTS))
    app = json.loads(config.read_text())
    app["context"].update(context)
    if context.get("deployments") == []:
        app["context"].pop("monitoringAccount")
    config.write_text(json.dumps(app))

    code = main(["status", "--deployments", "--config", str(config)])

    assert code == 2
    assert said in capsys.readouterr().err


def test_a_missing_config_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--deployments", "--config", str(tmp_path / "none.json")])

    assert code == 2
    assert f"--config: {tmp_path / 'none.json'} does not exist" in capsys.readouterr().err


def test_it_asks_each_account_only_what_its_read_only_role_allows(
    estate: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cdk_json(tmp_path, entries(DEPLOYMENTS))
    # A backup of the product's without a tier: status reads its tags (awaiting adoption).
    backend = estate.backend_for(*DEPLOYMENTS[0])
    add_own_backup(backend, "chef-1-us-east-1", backend.clock.now() - timedelta(hours=2))

    main(["status", "--deployments", "--config", str(config)])

    asked = {(c.account, c.region) for c in estate.calls}
    assert asked == set(DEPLOYMENTS)
    # The role the member stack gives the monitoring account (infra/estate/member.py).
    called = {f"opsworks-cm:{c.operation}" for c in estate.calls}
    assert called <= set(STATUS_OPSWORKSCM_ACTIONS)
    assert {"opsworks-cm:DescribeServers", "opsworks-cm:DescribeBackups"} <= called
