"""make mutation: mutation testing (mutmut) of the safety code, with the kill rate per module.

mutmut mutates modules named by their path from the project root and expects the tests to import
them the same way; the orchestrator's package lives in `lambda/` (a keyword, never a package), so
each module is tested in a staged copy of the project where `backup_orchestrator` sits at the top
(the Lambda asset and the API model stay in `lambda/`, where the tests and the synth read them).

    python scripts/mutation.py [planner tiers ownership orchestrator retry drills following
                                confirmation tracker-definition]

Mutates the last commit (uncommitted changes are not part of it). Prints one line per module
(mutants, killed, survived, kill rate) and the survivors' names;
`mutmut show NAME` in the module's stage (printed too) shows a survivor's diff.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "build" / "mutation"
PACKAGE = "backup_orchestrator"


@dataclass(frozen=True)
class Target:
    """One module under mutation and the tests that are meant to catch its mutants."""

    sources: tuple[str, ...]  # paths in the stage
    tests: tuple[str, ...]
    # Only the mutants of these functions count (None: all of the sources'), for logic that
    # lives in a few methods of a larger module.
    functions: tuple[str, ...] | None = None
    # Mutants run one at a time: the tests synthesize with jsii, whose one Node.js process a
    # forked child inherits and must not share with a sibling. Each test also synthesizes for
    # itself (the suite shares one synth a session): mutmut picks a mutant's tests by the calls
    # each test made, and a shared synth would count only for the first test that asked for it.
    synthesizes: bool = False


TARGETS = {
    "planner": Target(
        (f"{PACKAGE}/domain/planner.py", f"{PACKAGE}/domain/sharing.py"),
        (
            "tests/unit/domain/test_planner.py",
            "tests/unit/domain/test_planner_reasons.py",
            "tests/unit/domain/test_planner_properties.py",
            "tests/unit/domain/test_tier_properties.py",
            "tests/unit/domain/test_sharing.py",
        ),
    ),
    # Retention tiers: which tier a backup gets, what each server keeps.
    "tiers": Target(
        (f"{PACKAGE}/domain/tiers.py", f"{PACKAGE}/domain/retention.py"),
        (
            "tests/unit/domain/test_tiers.py",
            "tests/unit/domain/test_retention.py",
            "tests/unit/domain/test_tier_calendar.py",
            "tests/unit/domain/test_tier_properties.py",
        ),
    ),
    # Ownership proven twice: the marker and the backup's own run tag.
    "ownership": Target(
        (f"{PACKAGE}/domain/ownership.py", f"{PACKAGE}/run/proof.py"),
        ("tests/unit/domain/test_ownership.py", "tests/integration/run/test_proof.py"),
    ),
    "orchestrator": Target(
        (f"{PACKAGE}/run/orchestrate.py", f"{PACKAGE}/run/start.py"),
        ("tests/integration/run", "tests/integration/handlers", "tests/chaos"),
    ),
    "retry": Target(
        (f"{PACKAGE}/aws/retries.py",),
        ("tests/unit/aws/test_retries.py", "tests/integration/aws/test_opsworkscm.py"),
    ),
    "drills": Target(
        (f"{PACKAGE}/domain/drills.py", f"{PACKAGE}/domain/drill_servers.py"),
        (
            "tests/unit/domain/test_drills.py",
            "tests/unit/domain/test_drill_servers.py",
            "tests/integration/run/test_drills.py",
        ),
    ),
    "following": Target(
        (f"{PACKAGE}/domain/following.py", f"{PACKAGE}/run/follow.py"),
        (
            "tests/unit/domain/test_following.py",
            "tests/integration/run/test_follow.py",
            "tests/integration/handlers/test_tracker.py",
        ),
    ),
    # Safety rule 16: "not found" confirmed by the account's listing before anything is gone.
    "confirmation": Target(
        (f"{PACKAGE}/aws/opsworkscm.py",),
        ("tests/integration/aws/test_not_found.py", "tests/integration/aws/test_opsworkscm.py"),
        functions=(
            "server",
            "backup",
            "_one",
            "server_listed",
            "backup_listed",
            "_denied",
            "_tags_not_found",
            "_delete",
        ),
    ),
    "tracker-definition": Target(
        ("infra/constructs/tracker.py", "infra/constructs/task_function.py"),
        (
            "tests/infra/test_definition.py",
            "tests/infra/test_permissions.py",
            "tests/infra/constructs/test_tracker.py",
            "tests/infra/constructs/test_task_function.py",
        ),
        synthesizes=True,
    ),
}
PER_TEST_SYNTH = """

@pytest.fixture
def template_json(tmp_path: Path) -> dict[str, Any]:  # mutation testing: a synth per test
    return synthesize(outdir=tmp_path)


@pytest.fixture
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)
"""
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def stage(name: str, target: Target) -> Path:
    """The last commit's files, with the package also at the top and mutmut's configuration
    (the commit, so that the figures belong to a state of the project anyone can check out)."""
    where = STAGES / name
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(where, filter="data")
    shutil.copytree(ROOT / "lambda" / PACKAGE, where / PACKAGE)
    pyproject = (where / "pyproject.toml").read_text()
    pyproject = pyproject.replace('pythonpath = [".", "lambda"]', 'pythonpath = ["."]')
    copied = ["tests", "local", "lambda", "infra", "app.py", "cdk.json", "scripts", "bench"]
    top = sorted({source.split("/")[0] for source in target.sources})
    pyproject += (
        "\n[tool.mutmut]\n"
        f"source_paths = {json.dumps(top)}\n"
        f"only_mutate = {json.dumps(list(target.sources))}\n"
        f"also_copy = {json.dumps(copied)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not chaos"]\n'
    )
    (where / "pyproject.toml").write_text(pyproject)
    if target.synthesizes:
        with (where / "tests" / "infra" / "conftest.py").open("a") as conftest:
            conftest.write(PER_TEST_SYNTH)
    return where


def mutate(name: str, target: Target) -> dict[str, str]:
    """Run mutmut for one target; return mutant name -> status."""
    where = stage(name, target)
    mutmut = Path(sys.executable).parent / "mutmut"
    children = "1" if target.synthesizes else str(os.cpu_count() or 2)
    env = {**os.environ, "AWS_DATA_PATH": str(where / "lambda" / "models")}
    subprocess.run(
        [str(mutmut), "run", "--max-children", children],
        cwd=where,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    listed = subprocess.run(
        [str(mutmut), "results", "--all", "true"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {}
    for line in listed.splitlines():
        mutant, _, status = line.strip().rpartition(": ")
        if mutant:
            statuses[mutant] = status
    return statuses


def counts(mutant: str, functions: tuple[str, ...] | None) -> bool:
    """Whether a mutant (mutmut names it `module.xǁClassǁmethod__mutmut_N` or
    `module.x_function__mutmut_N`) is in one of `functions` (None: every mutant counts)."""
    if functions is None:
        return True
    name = mutant.rsplit("__mutmut_", 1)[0]
    name = name.rsplit("ǁ", 1)[-1].rsplit(".x_", 1)[-1]
    return name in functions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__)
    parser.add_argument("modules", nargs="*", choices=list(TARGETS), default=list(TARGETS))
    args = parser.parse_args(argv)
    rows = []
    for name in args.modules:
        started = time.monotonic()
        target = TARGETS[name]
        statuses = mutate(name, target)
        counted = {
            m: s for m, s in statuses.items() if s != "skipped" and counts(m, target.functions)
        }
        killed = sum(s in KILLED for s in counted.values())
        survivors = sorted(m for m, s in counted.items() if s not in KILLED)
        rate = killed / len(counted) if counted else 1.0
        rows.append((name, len(counted), killed, survivors, rate, time.monotonic() - started))
        print(
            f"{name:20} {len(counted):4} mutants  {killed:4} killed  {len(survivors):3} alive  "
            f"kill rate {rate:6.1%}  ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        for survivor in survivors:
            print(f"    alive: {survivor} ({counted[survivor]})")
        print(f"    stage: {STAGES / name} (mutmut show NAME there)", flush=True)
    print("\nmodule               mutants  killed  alive  kill rate")
    for name, total, killed, survivors, rate, _ in rows:
        print(f"{name:20} {total:7} {killed:7} {len(survivors):6}  {rate:8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
