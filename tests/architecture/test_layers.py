"""The runtime's layers hold (import-linter's contracts in pyproject.toml), and the check is real:
a back-import planted in a copy of the runtime breaks the contract it should, a type-only one
included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(*paths: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts, finding the packages first in `paths`."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths))}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_layer_contracts_hold() -> None:
    linted = lint_imports()

    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "6 kept, 0 broken" in linted.stdout


@pytest.fixture
def runtime_copy(tmp_path: Path) -> Path:
    """A copy of the runtime package to plant imports in; the checks read it first."""
    shutil.copytree(
        ROOT / "lambda" / "backup_orchestrator",
        tmp_path / "backup_orchestrator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


def plant(copy: Path, module: str, line: str) -> None:
    path = copy / "backup_orchestrator" / module
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, f"{marker}\n{line}\n", 1))


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # The pure core reaching up into a run.
        (
            "domain/planner.py",
            "from backup_orchestrator.run.services import Services",
            "Runtime layers",
        ),
        # A type-only import counts: it is a cycle for the type checker and a reader.
        (
            "aws/history.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from backup_orchestrator.run.services import Followers",
            "Runtime layers",
        ),
        # The two middle layers are independent of each other.
        ("aws/alerts.py", "from backup_orchestrator.contract import report", "Runtime layers"),
        ("domain/marker.py", "import botocore", "The domain is pure"),
        ("run/judge.py", "import rich", "The runtime ships alone"),
        # Two modules of one layer importing each other.
        (
            "domain/records.py",
            "from backup_orchestrator.domain import planner",
            "No import cycles",
        ),
    ],
)
def test_a_planted_import_breaks_its_contract(
    runtime_copy: Path, module: str, line: str, broken: str
) -> None:
    plant(runtime_copy, module, line)

    linted = lint_imports(runtime_copy)

    assert linted.returncode != 0
    verdicts = {
        row.removesuffix(verdict).strip(): verdict
        for row in linted.stdout.splitlines()
        for verdict in ("KEPT", "BROKEN")
        if row.endswith(verdict)
    }
    [named] = [name for name in verdicts if name.startswith(broken)]
    # A back-import between layers is also a cycle between packages: that may break too.
    assert verdicts[named] == "BROKEN", linted.stdout
