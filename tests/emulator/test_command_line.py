"""python -m local.emulator: its options checked in one line, and combined with a fleet file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.emulator.__main__ import build, parse_args

FLEET = {
    "account": {"manualBackupLimit": 22},
    "failBackups": ["puppet-*"],
    "servers": [
        {"name": "chef-a", "tags": {"opsworks-cm-backup": "enabled"}},
        {"name": "puppet-a", "engine": "Puppet"},
    ],
}


@pytest.fixture
def fleet_file(tmp_path: Path) -> str:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(FLEET))
    return str(path)


def test_the_command_line_adds_to_the_fleet_file_and_wins_over_it(fleet_file: str) -> None:
    emulator = build(
        parse_args(
            [
                "--fleet",
                fleet_file,
                "--fail-backups",
                "chef-*",
                "--manual-backup-limit",
                "3",
                "--backup-seconds",
                "0",
            ]
        )
    )

    config = emulator.config
    assert config.fail_backups == ("puppet-*", "chef-*")
    assert config.manual_backup_limit == 3
    # The backups of both servers fail: the fleet's pattern and the command line's.
    for name in ("chef-a", "puppet-a"):
        emulator.backend.op_create_backup({"ServerName": name}, "caller")
    described = emulator.backend.op_describe_backups({}, "caller")["Backups"]
    assert {b["ServerName"]: b["Status"] for b in described} == {
        "chef-a": "FAILED",
        "puppet-a": "FAILED",
    }


def test_what_the_command_line_leaves_out_the_fleet_file_decides(fleet_file: str) -> None:
    config = build(parse_args(["--fleet", fleet_file])).config

    assert (config.manual_backup_limit, config.fail_backups) == (22, ("puppet-*",))
    assert (config.server_limit, config.backup_seconds) == (10, 120.0)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--port", "99999"], "--port must be from 0 to 65535, not 99999"),
        (["--port", "http"], "--port must be a number, not 'http'"),
        (["--rate", "-1"], "--rate must be at least 0, not -1"),
    ],
)
def test_bad_options_are_named_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)

    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(expected)
