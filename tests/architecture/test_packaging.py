"""A fresh setup says nothing it need not: every extra asked for exists, the package metadata is
current, and the virtualenv's requirements are what they say."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[(?P<extras>[^\]]+)\])?")


def requirements(path: Path) -> list[tuple[str, list[str]]]:
    """(name, extras) of each requirement in `path` and the files it includes with -r."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found += requirements(path.parent / line[3:].strip())
        elif match := REQUIREMENT.match(line):
            extras = [e.strip() for e in (match["extras"] or "").split(",") if e.strip()]
            found.append((match["name"], extras))
    return found


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_extra_asked_for_exists() -> None:
    missing = [
        f"{name}[{extra}]"
        for name, extras in requirements(REPO_ROOT / "requirements-dev.txt")
        for extra in extras
        if normalized(extra)
        not in {normalized(e) for e in metadata.metadata(name).get_all("Provides-Extra") or []}
    ]

    assert missing == []


def test_the_package_metadata_is_in_the_current_form() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())

    # A table is deprecated by setuptools, which says so on every install; an SPDX expression
    # needs setuptools 77 to build.
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]


def test_the_cli_depends_on_rich_and_the_lambda_does_not() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    lambda_names = {normalized(n) for n, _ in requirements(REPO_ROOT / "lambda/requirements.txt")}

    assert any(d.startswith("rich") for d in pyproject["project"]["dependencies"])
    assert "rich" in {normalized(n) for n, _ in requirements(REPO_ROOT / "requirements-dev.txt")}
    assert "rich" not in lambda_names
