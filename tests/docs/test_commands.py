"""The README and the documentation pages hold up: their commands that need no AWS account run
as written against the emulator (with the virtualenv active, the stock AWS CLI standing in for the
operator's), their examples have the fields the product writes, and the troubleshooting page
quotes what users see."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import UnknownServiceError

from backup_orchestrator.aws.clients import opsworkscm_client
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.events import InvalidRequestError, parse_event
from backup_orchestrator.contract.report import (
    ComplianceCounts,
    NextTryRecord,
    OrphanReport,
    QuotaReport,
    RunRecord,
    RunReport,
    ServerResult,
)
from backup_orchestrator.contract.settings import SettingsError, parse_settings
from backup_orchestrator.domain.records import Outcome
from backup_orchestrator.run.orchestrate import run
from backup_orchestrator.run.services import Services
from infra.config import ConfigError, from_context
from local import fleet
from owcm_backup.follow import Deletion, Done, Followed, Waited
from tests.conftest import operator_shell

REPO_ROOT = Path(__file__).resolve().parents[2]
# Every page a reader follows a command from: the README and the site's pages, by path.
PAGES = {
    path.relative_to(REPO_ROOT).as_posix(): path.read_text()
    for path in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
}

# Commands that need an AWS account, by how they start: not run here.
NEEDS_AWS = (
    "aws lambda ",
    "aws scheduler ",
    "aws ssm ",
    "npx aws-cdk@2 ",
    "make deploy ",
    "owcm-backup run --tracker-arn ",
    "owcm-backup drill --state-machine-arn ",
)
# Commands run elsewhere: the setup itself, and the suite that is running.
ELSEWHERE = {
    "make demo": "tests/tools/test_demo.py",
    "make test": "this suite",
    "make venv && source .venv/bin/activate": "the setup before this suite",
}
EMULATOR = ".venv/bin/python -m local.emulator "
# A small account with the servers the pages name; few backups, so that a block deleting all
# of the product's runs in seconds.
FLEET = {
    "servers": [
        {
            "name": "chef-prod",
            "tags": {"opsworks-cm-backup": "enabled"},
            "backups": [{"ageDays": 1, "own": True}, {"ageDays": 2, "type": "AUTOMATED"}],
        },
        {"name": "puppet-prod", "engine": "Puppet", "tags": {"opsworks-cm-backup": "enabled"}},
        {"name": "chef-sandbox"},
        {
            "name": "chef-legacy",
            "ageDays": 400,
            "deleted": True,
            "backups": [{"ageDays": 90, "own": True}],
        },
    ]
}
# The one deleted server's backup of the product: what `owcm-backup delete-orphans` asks about.
ORPHANS = 1
IAM = "arn:aws:iam::123456789012"


@dataclass(frozen=True)
class Block:
    page: str
    heading: str
    commands: list[str]

    @property
    def name(self) -> str:
        return f"{self.page}: {self.heading}"

    @property
    def runnable(self) -> list[str]:
        return [c for c in self.commands if kind(c) == "run"]


def fenced(language: str) -> list[tuple[str, str, str]]:
    """(the page, the heading above it, the text) of each fenced block of `language`."""
    found: list[tuple[str, str, str]] = []
    for page, text in PAGES.items():
        heading, body, inside = "", list[str](), False
        for line in text.splitlines():
            if not inside and line.startswith("#"):
                heading = line.lstrip("#").strip()
            if line.startswith("```"):
                if inside:
                    found.append((page, heading, "\n".join(body)))
                inside = line == f"```{language}" if not inside else False
                body = []
            elif inside:
                body.append(line)
    return found


def complete(command: str) -> bool:
    try:
        shlex.split(command, comments=True)
    except ValueError:  # a quotation still open: the command goes on on the next line
        return False
    return not command.endswith("\\")


def blocks() -> list[Block]:
    """The commands of each section's bash blocks (a section of a page, its blocks under one
    heading, is one shell session): lines continued with a backslash or inside quotes joined,
    comment lines dropped."""
    found: dict[tuple[str, str], list[str]] = {}
    for page, heading, text in fenced("bash"):
        commands, pending = found.setdefault((page, heading), []), ""
        for line in text.splitlines():
            if not pending and (not line.strip() or line.startswith("#")):
                continue
            pending = f"{pending}\n{line}" if pending else line
            if complete(pending):
                commands.append(pending.replace("\\\n", ""))
                pending = ""
        assert not pending, pending
    return [Block(page, heading, commands) for (page, heading), commands in found.items()]


def kind(command: str) -> str:
    if command.startswith(NEEDS_AWS):
        return "aws"
    if command.split("#")[0].strip() in ELSEWHERE:
        return "elsewhere"
    if command.startswith(EMULATOR):
        return "emulator"
    return "run"


def test_every_command_is_run_here_or_needs_an_account() -> None:
    commands = [c for b in blocks() for c in b.commands]

    assert {kind(c) for c in commands} == {"aws", "elsewhere", "emulator", "run"}
    assert len([c for c in commands if kind(c) == "run"]) >= 15


def operators_directory(where: Path) -> Path:
    """The project's directory as an operator has it, for files the commands write."""
    for name in ("lambda", "local"):
        (where / name).symlink_to(REPO_ROOT / name)
    (where / ".venv").symlink_to(sys.prefix)
    return where


EMULATOR_COMMAND = next(c for b in blocks() for c in b.commands if kind(c) == "emulator")
# The section that starts the emulator as written, on the fleet it names, and uses it.
EMULATOR_SECTION = "docs/emulator.md: The OpsWorks CM emulator"


@contextmanager
def emulator(fleet_file: Path | None, cwd: Path) -> Iterator[str]:
    """The pages' emulator, on a free port, seeded from `fleet_file` (default: as written);
    its URL. Backups end at once, so that run --wait does not wait them out."""
    argv = [*shlex.split(EMULATOR_COMMAND, comments=True), "--backup-seconds", "0"]
    argv[argv.index("--port") + 1] = "0"
    if fleet_file is not None:
        argv[argv.index("--fleet") + 1] = str(fleet_file)
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip().rsplit(" ", 1)[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def shell(url: str) -> dict[str, str]:
    """An operator's shell: the virtualenv active, an AWS CLI on the PATH, OpsWorks CM calls
    going to the emulator, and no AWS_DATA_PATH unless a command exports it."""
    venv_bin = str(Path(sys.prefix) / "bin")
    aws_cli = str(Path(sys.prefix) / "awscli" / "bin")
    return operator_shell(
        PATH=os.pathsep.join([venv_bin, aws_cli, os.environ.get("PATH", "")]),
        VIRTUAL_ENV=sys.prefix,
        AWS_ENDPOINT_URL_OPSWORKSCM=url,
        TERM="dumb",
    )


def placeholders(url: str) -> dict[str, str]:
    """What the pages' <placeholders> stand for, in the emulated account."""
    service = OpsWorksCM(opsworkscm_client(boto3.session.Session(), endpoint_url=url))
    servers = {s.name: s for s in service.servers()}
    own = [b for b in service.backups("chef-prod") if b.is_own and b.status == "OK"]
    return {
        "<server ARN>": servers["chef-sandbox"].arn,
        "<backup id>": own[0].backup_id,
        "<instance profile ARN>": f"{IAM}:instance-profile/aws-opsworks-cm-ec2-role",
        "<service role ARN>": f"{IAM}:role/service-role/aws-opsworks-cm-service-role",
    }


def run_section(block: Block, where: Path) -> subprocess.CompletedProcess[str]:
    """The section's commands in one shell, against an emulator of its own (FLEET, but for
    the emulator's own section, which uses the fleet it names)."""
    cwd = operators_directory(where)
    fleet_file = None
    if block.name != EMULATOR_SECTION:
        fleet_file = cwd / "fleet.json"
        fleet_file.write_text(json.dumps(FLEET))
    with emulator(fleet_file, cwd) as url:
        script = ["set -euxo pipefail"]
        values = placeholders(url) if any("<" in c for c in block.runnable) else {}
        for command in block.runnable:
            for placeholder in re.findall(r"<[^<>]+>", command):
                assert placeholder in values, f"no value for {placeholder} in: {command}"
                command = command.replace(placeholder, values[placeholder])
            script.append(command.replace("4580", url.rsplit(":", 1)[-1]))
        # A terminal to ask on, with the answer typed ahead (delete-orphans asks for a count).
        terminal, attached = pty.openpty()
        os.write(terminal, f"{ORPHANS}\n".encode())
        try:
            return subprocess.run(
                ["/bin/bash", "-c", "\n".join(script)],
                cwd=cwd,
                env=shell(url),
                stdin=attached,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        finally:
            os.close(attached)
            os.close(terminal)


SECTIONS = [b for b in blocks() if b.runnable]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every section run, two at a time (each has its own directory and emulator)."""
    with ThreadPoolExecutor(2) as pool:
        running = {
            b.name: pool.submit(run_section, b, tmp_path_factory.mktemp("operator"))
            for b in SECTIONS
        }
    return {name: future.result() for name, future in running.items()}


@pytest.mark.parametrize("section", [b.name for b in SECTIONS])
def test_the_offline_commands_run_as_written(
    section: str, ran: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = ran[section]

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr


def test_the_emulator_serves_the_demo_fleet_as_written(
    ran: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    out = ran[EMULATOR_SECTION].stdout

    assert "chef-prod\tHEALTHY" in out
    assert "Manual backups: 21 of 22 used" in out


def test_the_fleet_file_example_is_a_fleet_file(tmp_path: Path) -> None:
    [example] = [text for _, _, text in fenced("json") if '"failBackups"' in text]
    path = tmp_path / "fleet.json"
    path.write_text(example)

    assert fleet.load(path).servers[0].name == "chef-prod"


def keys(model: Any) -> set[str]:
    """The keys of a model's JSON (a field excluded from it is not one)."""
    return {info.alias or name for name, info in model.model_fields.items() if not info.exclude}


def examples_of_runs() -> list[dict[str, Any]]:
    """The JSON examples of what the function answers: a report, and a run's record."""
    return [json.loads(t) for _, _, t in fenced("json") if t.lstrip().startswith('{\n  "runId"')]


def test_the_example_report_has_the_fields_of_a_report() -> None:
    [example] = [e for e in examples_of_runs() if "results" in e]
    [result] = example["results"]
    [orphan] = example["backupsOfDeletedServers"]

    assert set(example) == {RunReport.model_fields[f].alias or f for f in RunReport.model_fields}
    assert set(example["quota"]) == keys(QuotaReport)
    assert set(result) == keys(ServerResult)
    assert set(orphan) == keys(OrphanReport)


def test_the_example_record_has_the_fields_of_a_runs_record() -> None:
    [example] = [e for e in examples_of_runs() if "wholeReport" in e]

    assert set(example) == keys(RunRecord)
    assert set(example["quota"]) == keys(QuotaReport)
    assert set(example["outcomes"]) == set(example["servers"]) == {o.value for o in Outcome}
    assert set(example["nextTry"]) == keys(NextTryRecord)
    assert set(example["compliance"]) == keys(ComplianceCounts)


def test_the_example_of_final_has_the_fields_run_wait_writes() -> None:
    [(page, example)] = [(p, json.loads(t)) for p, _, t in fenced("json") if '"interrupted"' in t]
    written = Waited(
        [Followed("chef-prod", "b", [Deletion("old", "why", Done.DELETED)], status="OK")],
        by_tracker=False,
    ).to_json()

    assert set(example) == set(written)
    assert set(example["backups"][0]) == set(written["backups"][0])
    assert set(example["backups"][0]["deletions"][0]) == set(written["backups"][0]["deletions"][0])
    assert {d.value for d in Done} - {"pending"} <= set(re.findall(r"`(\w+)`", PAGES[page]))


def troubleshooting() -> str:
    return PAGES["docs/troubleshooting.md"]


def quoted(text: str) -> re.Pattern[str]:
    """A quote of the pages as a pattern: `...` and the placeholders N, M, x stand for any
    text."""
    pattern = re.escape(text)
    for stand_in in (r"\.\.\.", "N", "M", "REGION", "KEY=VALUE", "x"):
        pattern = pattern.replace(stand_in, ".+")
    return re.compile(pattern)


def said(exc_type: type[Exception], call: Any, *args: Any) -> str:
    with pytest.raises(exc_type) as caught:
        call(*args)
    return str(caught.value)


def test_troubleshooting_quotes_what_users_see(
    tmp_path: Path, emulator: Any, aws_cli_v1: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    table = troubleshooting()
    real_model = os.environ["AWS_DATA_PATH"]
    emulator.backend.add_server("chef-prod")
    service = OpsWorksCM(opsworkscm_client(region_name="us-east-1"))
    settings = parse_settings({"AWS_DATA_PATH": real_model})
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    # A session made now reads the model path without the model; typed loosely, as the stubs
    # know no OpsWorks CM client either.
    fresh: Any = boto3.session.Session()
    cli_v1 = subprocess.run(
        [str(aws_cli_v1), "opsworkscm", "describe-servers"],
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    seen = {
        "`Unknown service: 'opsworkscm'`": said(UnknownServiceError, fresh.client, "opsworkscm"),
        "`botocore has no OpsWorks CM model`": said(RuntimeError, opsworkscm_client, fresh),
        "`aws: error: argument command: Invalid choice, valid choices are:`": cli_v1,
        "`invalid setting AWS_DATA_PATH='...': no directory in it holds "
        "opsworkscm/2016-11-01/service-2.json`": said(
            SettingsError, parse_settings, {"AWS_DATA_PATH": "/nowhere"}
        ),
        "`invalid setting RETENTION='daily:100': ...`": said(
            SettingsError, parse_settings, {"AWS_DATA_PATH": real_model, "RETENTION": "daily:100"}
        ),
        "`invalid event: field 'servers': no OpsWorks CM server named 'x'`": said(
            InvalidRequestError,
            run,
            parse_event({"servers": ["ghost"]}, request_id="r1"),
            settings,
            Services(opsworkscm=service),
        ),
        "`error: context key retain='99': ...`": "error: "
        + said(ConfigError, from_context, {"retain": "99"}),
    }

    for quote, message in seen.items():
        assert quote in table, quote
        assert quoted(quote.strip("`")).search(message), (quote, message)
