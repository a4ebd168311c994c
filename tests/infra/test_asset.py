"""The synthesized code asset runs on its own: every runtime module imports from the asset
directory with nothing else on the path but the packages the Lambda runtime and the Powertools
layer provide (lambda/requirements.txt and what they require). A module that would not deploy,
or one that reaches for a package the function does not have, fails here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from infra.assets.files import LAMBDA_ROOT
from tests.support.stack import FUNCTIONS, Synthesized, asset_of, lambda_function

# Packages a deployed function must never need: the CLI's, the stack's, the tests'.
ABSENT = ("rich", "owcm_backup", "infra", "local", "aws_cdk", "moto", "pytest")


def _closure(requirements: list[Requirement]) -> set[str]:
    """The distributions `requirements` install, with everything they require (extras kept)."""
    seen: set[str] = set()
    pending = [(r, frozenset(r.extras)) for r in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            marker = needed.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in (*extras, "")):
                pending.append((needed, frozenset(needed.extras)))
    return seen


def lambda_packages(target: Path) -> Path:
    """A directory holding links to the top-level modules of the function's distributions."""
    lines = (LAMBDA_ROOT / "requirements.txt").read_text().splitlines()
    wanted = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    target.mkdir()
    for name in _closure(wanted):
        files = metadata.distribution(name).files or []
        tops = {f.parts[0] for f in files if len(f.parts) > 1 and not f.parts[0].endswith("-info")}
        tops |= {f.name for f in files if len(f.parts) == 1 and f.suffix in (".py", ".so")}
        for top in tops - {"..", "bin", "__pycache__"}:
            source = Path(str(metadata.distribution(name).locate_file(top)))
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)
    return target


def modules_of(asset: Path) -> list[str]:
    return sorted(
        ".".join(p.relative_to(asset).with_suffix("").parts).removesuffix(".__init__")
        for p in (asset / "backup_orchestrator").rglob("*.py")
    )


PROBE = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys
    sys.path[:0] = sys.argv[1:3]
    failed = {}
    for name in json.loads(sys.argv[3]):
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
    present = [m for m in json.loads(sys.argv[4]) if importlib.util.find_spec(m) is not None]
    print(json.dumps({"failed": failed, "present": present}))
    """
)


def probe(asset: Path, packages: Path, modules: list[str]) -> dict[str, Any]:
    environment = {
        "AWS_DATA_PATH": str(asset / "models"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "PATH": os.environ.get("PATH", ""),
    }
    # -S: no site-packages; -I: no PYTHONPATH, no user site, no current directory; -B: no
    # bytecode written into the synthesized asset, which other tests compare with the allow-list.
    answer = subprocess.run(
        [
            sys.executable,
            *("-S", "-I", "-B", "-c", PROBE),
            *(str(asset), str(packages), json.dumps(modules), json.dumps(ABSENT)),
        ],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(answer.stdout)
    return result


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lambda_packages(tmp_path_factory.mktemp("lambda-runtime") / "python")


def test_every_runtime_module_imports_from_the_asset_alone(
    variant: Synthesized, packages: Path
) -> None:
    asset = asset_of(variant)
    modules = modules_of(asset)

    found = probe(asset, packages, modules)

    assert found == {"failed": {}, "present": []}
    # Every layer is there, and every module of the source tree shipped.
    assert {m.split(".")[1] for m in modules if m.count(".")} >= {
        "aws",
        "contract",
        "domain",
        "handlers",
        "run",
    }
    assert modules == modules_of(LAMBDA_ROOT)


def test_a_module_needing_what_the_function_lacks_fails_the_probe(
    variant: Synthesized, packages: Path, tmp_path: Path
) -> None:
    asset = tmp_path / "asset"
    shutil.copytree(asset_of(variant), asset)
    (asset / "backup_orchestrator" / "run" / "pretty.py").write_text("import rich\n")

    found = probe(asset, packages, ["backup_orchestrator.run.pretty"])

    assert found["failed"] == {
        "backup_orchestrator.run.pretty": "ModuleNotFoundError: No module named 'rich'"
    }


HANDLER_PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    sys.path[:0] = sys.argv[1:3]
    found = {}
    for handler in json.loads(sys.argv[3]):
        module, _, name = handler.rpartition(".")
        found[handler] = callable(getattr(importlib.import_module(module), name, None))
    print(json.dumps(found))
    """
)


def test_every_function_runs_a_handler_the_one_asset_defines(
    variant: Synthesized, packages: Path
) -> None:
    # The orchestrator and the state machines' functions ship the same code; each names a
    # handler it has.
    functions = {owner: lambda_function(variant.template, owner)[1] for owner in FUNCTIONS}
    handlers = sorted(f["Properties"]["Handler"] for f in functions.values())
    asset = asset_of(variant)

    assert len({json.dumps(f["Properties"]["Code"]) for f in functions.values()}) == 1
    answer = subprocess.run(
        [
            sys.executable,
            *("-S", "-I", "-B", "-c", HANDLER_PROBE),
            *(str(asset), str(packages), json.dumps(handlers)),
        ],
        env={
            "AWS_DATA_PATH": str(asset / "models"),
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "PATH": os.environ.get("PATH", ""),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(answer.stdout) == dict.fromkeys(handlers, True)
    assert handlers == [
        "backup_orchestrator.handlers.drill.lambda_handler",
        "backup_orchestrator.handlers.orchestrator.lambda_handler",
        "backup_orchestrator.handlers.tracker.lambda_handler",
    ]
