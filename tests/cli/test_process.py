"""owcm-backup as a person runs it: a real process against the emulator over HTTP, stopped with
a real Ctrl-C, its output cut short by a closed pipe, its progress drawn on a real terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import operator_shell

REPO_ROOT = Path(__file__).resolve().parents[2]
OWCM_BACKUP = str(Path(sys.executable).parent / "owcm-backup")
# A person's shell starts a command with Ctrl-C's default action. A test run started in the
# background by a non-interactive shell (`make test &`) ignores SIGINT, and a child inherits an
# ignored signal: the command is started through this, which restores the default first.
WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]
# Each server has three backups of this product; with retain=1 all three go once a new one is OK.
FLEET = {
    "servers": [
        {
            "name": name,
            "tags": {"opsworks-cm-backup": "enabled", "opsworks-cm-backup:retain": "1"},
            "backups": [{"ageDays": days, "own": True} for days in (1, 2, 3)],
        }
        for name in ("chef-ctrl-c", "chef-live", "chef-pipe")
    ]
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An emulator whose backups run for an hour: waiting on them only ends when stopped."""
    fleet = tmp_path_factory.mktemp("fleet") / "fleet.json"
    fleet.write_text(json.dumps(FLEET))
    options = ["--port", "0", "--rate", "0", "--backup-seconds", "3600", "--fleet", str(fleet)]
    process = subprocess.Popen(
        [sys.executable, "-m", "local.emulator", *options],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def environment(endpoint: str) -> dict[str, str]:
    return operator_shell(AWS_ENDPOINT_URL_OPSWORKSCM=endpoint, TERM="xterm-256color")


def read_until(fd: int, wanted: bytes, seconds: float = 60) -> bytes:
    """What `fd` gives until `wanted` appears in it."""
    seen = b""
    give_up = time.monotonic() + seconds
    while wanted not in seen:
        assert time.monotonic() < give_up, seen
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 65536)
            assert chunk, seen
            seen += chunk
    return seen


def test_ctrl_c_while_waiting_keeps_the_report_and_says_what_was_not_done(
    environment: dict[str, str],
) -> None:
    # Given a run following its backup, with three deletions waiting for it to be OK
    command = [
        *WITH_CTRL_C,
        *(OWCM_BACKUP, "run", "--servers", "chef-ctrl-c", "--wait", "--poll", "0.2", "--json"),
    ]
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    read_until(process.stderr.fileno(), b"in progress: chef-ctrl-c")

    # When the person presses Ctrl-C
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    # Then the report so far is printed, the backup goes on, and the deletions not applied are
    # named; the exit code is the shell's for Ctrl-C
    report = json.loads(out)
    [followed] = report["final"]["backups"]
    waiting = [d["backupId"] for d in report["results"][0]["deferredDeletes"]]
    text = err.decode()
    assert process.returncode == 130
    assert "Traceback" not in text
    assert report["final"]["interrupted"] is True
    assert followed["status"] == "IN_PROGRESS"
    assert f"the backups go on in OpsWorks CM: {followed['backupId']}" in text
    assert len(waiting) == 3
    assert all(f"{backup_id} (once {followed['backupId']} is OK)" in text for backup_id in waiting)


@pytest.mark.parametrize("argv", [["status"], ["plan", "--json", "--servers", "chef-pipe"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    environment: dict[str, str], argv: list[str]
) -> None:
    # Given standard output is a pipe whose reader is gone (`owcm-backup ... | head -1`)
    reader, writer = os.pipe()
    os.close(reader)

    result = subprocess.run(
        [OWCM_BACKUP, *argv],
        env=environment,
        stdout=writer,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(writer)

    # Then nothing is said about it, as other command-line tools do, and the exit code says so
    assert result.stderr == ""
    assert result.returncode == 141


def test_waiting_on_a_terminal_draws_a_live_table(environment: dict[str, str]) -> None:
    # Given standard error is a terminal
    terminal, attached = pty.openpty()
    process = subprocess.Popen(
        [*WITH_CTRL_C, OWCM_BACKUP, "run", "--servers", "chef-live", "--wait", "--poll", "0.2"],
        env={**environment, "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=attached,
    )
    os.close(attached)
    try:
        # When the backup is followed
        drawn = read_until(terminal, b"to delete once OK")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        os.close(terminal)

    # Then a table with the server, its backup, status and elapsed time is redrawn in place
    screen = drawn.decode(errors="replace")
    assert "\x1b[?25l" in screen  # the cursor hidden while the table is redrawn
    assert all(column in screen for column in ("SERVER", "BACKUP", "STATUS", "ELAPSED"))
    assert "chef-live" in screen and "IN_PROGRESS" in screen
    assert "Ctrl-C stops the waiting, not the backups" in screen
