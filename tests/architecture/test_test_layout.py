"""The tests mirror the code: every runtime module has a test file named after it, in the folder
of its layer, by kind (`tests/unit/<layer>/` when it needs no network, `tests/integration/<layer>/`
when it talks to the emulator or moto). A module added without one fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambda" / "backup_orchestrator"
KINDS = ("unit", "integration")


def runtime_modules(package: Path = PACKAGE) -> list[Path]:
    """Every module of the runtime but the packages' `__init__`s, relative to the package."""
    return sorted(
        p.relative_to(package)
        for p in package.rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    )


def missing_tests(package: Path = PACKAGE, tests: Path = ROOT / "tests") -> list[str]:
    """The modules with no `tests/<kind>/<layer>/test_<module>.py`."""
    return [
        str(module)
        for module in runtime_modules(package)
        if not any(
            (tests / kind / module.parent / f"test_{module.name}").is_file() for kind in KINDS
        )
    ]


def test_every_runtime_module_has_a_test_file_named_after_it() -> None:
    assert runtime_modules(), "no runtime modules found"
    assert missing_tests() == []


@pytest.mark.parametrize(
    ("tests_present", "missing"),
    [
        ((), ["run/orchestrate.py"]),
        (("unit/run/test_orchestrate.py",), []),
        (("integration/run/test_orchestrate.py",), []),
        # Named after it, but in another layer's folder: does not count.
        (("unit/domain/test_orchestrate.py",), ["run/orchestrate.py"]),
    ],
)
def test_a_module_without_its_test_file_is_found(
    tmp_path: Path, tests_present: tuple[str, ...], missing: list[str]
) -> None:
    package, tests = tmp_path / "backup_orchestrator", tmp_path / "tests"
    (package / "run").mkdir(parents=True)
    (package / "run" / "__init__.py").write_text("")
    (package / "run" / "orchestrate.py").write_text("")
    for name in tests_present:
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text("")

    assert missing_tests(package, tests) == missing
