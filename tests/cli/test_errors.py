"""owcm-backup when it cannot do what it is asked, against the emulator: bad input, a selection
that matches nothing, an account without servers, throttling, an endpoint without a scheme or out
of reach; each one line with its exit code, never a traceback. (And --version, which argparse
answers as it answers bad input.)"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from local.emulator import Emulator
from local.emulator.faults import RandomErrors
from owcm_backup.main import main
from tests.support.fleet import mutating_calls


def cli(argv: Sequence[str]) -> int:
    """The exit code, whether the command returned it or argparse exited with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "--retain", "0"], "argument --retain: Input should be greater than or equal"),
        (["plan", "--retain", "50"], "argument --retain: Input should be less than or equal"),
        (["plan", "--retain", "three"], "argument --retain: must be a whole number"),
        (["plan", "--servers", "ghost"], "--servers: no OpsWorks CM server named 'ghost'"),
        (["plan", "--servers", "chef prod"], "argument --servers: 'chef prod' is not an OpsWorks"),
        (["plan", "--servers", " , "], "argument --servers: names no server"),
        (["run", "--description", "two\nlines"], "argument --description: must be printable"),
        (["plan", "--select-tag", "oops"], "argument --select-tag: must look like key=value"),
        (["plan", "--retention", "weekly:2"], "argument --retention: daily is required"),
        (
            ["run", "--retain", "3", "--retention", "daily:3"],
            "argument --retention: not allowed with argument --retain",
        ),
        (["plan", "--retian", "3"], "unrecognized arguments: --retian 3 (did you mean --retain?)"),
        (["plan", "--retian", "3"], "see `owcm-backup plan --help`"),
        (["status", "--endpoint-url", "127.0.0.1:4580"], "--endpoint-url: must be a URL with its"),
        (["run", "--poll", "0"], "argument --poll: must be more than 0"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag_and_exit_2(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = cli(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert expected in err
    assert mutating_calls(fleet) == []


def test_an_endpoint_from_the_environment_without_a_scheme_is_one_line(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_OPSWORKSCM", "127.0.0.1:4580")

    code = cli(["status"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: Invalid endpoint: 127.0.0.1:4580")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "--select-tag", "opsworks-cm-backup=Enabled"], "chef-prod has opsworks-cm"),
        (["run", "--select-tag", "backup=yes"], "none of the 3 servers in us-east-1 carries"),
    ],
)
def test_a_selection_that_matches_nothing_says_why_and_exits_1(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = main(argv)

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("nothing selected: ")
    assert expected in err
    assert mutating_calls(fleet) == []


def test_an_account_without_servers_says_so(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan"]) == 1
    assert "there is no OpsWorks CM server in us-east-1" in capsys.readouterr().err


def test_throttling_is_paced_and_retried_like_the_function(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # The account's servers are read only after five refusals in a row, one more than the CLI
    # used to try.
    fleet.faults.append(RandomErrors(1.0, seed=1, operations=["DescribeServers"], max_in_a_row=5))

    code = main(["status"])

    assert code == 0, capsys.readouterr().err
    assert "Manual backups: 2 of 50 used" in capsys.readouterr().out


@pytest.mark.chaos
def test_throttling_that_outlasts_the_retries_says_what_to_do(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # The account's servers are never read: every attempt is throttled.
    fleet.faults.append(RandomErrors(1.0, seed=1, operations=["DescribeServers"]))

    code = main(["status"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: AWS answered ThrottlingException: Rate exceeded (still ")
    assert "throttled after 10 attempts" in err and "OPSWORKSCM_RATE" in err
    assert len(fleet.calls_to("DescribeServers")) == 10


def test_unreachable_endpoint_is_one_line_not_a_traceback() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "owcm-backup"),
            "status",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: Could not connect to the endpoint URL")
    assert "OpsWorks CM answers in us-east-1, us-east-2" in result.stderr
    assert "Traceback" not in result.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--version"]) == 0
    assert capsys.readouterr().out.startswith("owcm-backup 0.")
