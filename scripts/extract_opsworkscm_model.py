"""Regenerate lambda/models/opsworkscm from botocore 1.40.18, the last release that ships it.

botocore 1.40.19 removed the OpsWorks CM client after the service reached end of life. The
project carries the API model as data instead; botocore loads it from any directory listed in
AWS_DATA_PATH. This script downloads the pinned botocore wheel from the package index, takes the
three files botocore needs to build the client, and strips every `documentation` string so only
shapes, operations, errors and metadata remain.

Usage: python scripts/extract_opsworkscm_model.py [--wheel PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

BOTOCORE_VERSION = "1.40.18"
API_VERSION = "2016-11-01"
FILES = ("service-2.json", "paginators-1.json", "endpoint-rule-set-1.json")
STRIPPED_KEYS = frozenset({"documentation", "documentationUrl"})
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "lambda" / "models"


def strip_documentation(node: Any) -> Any:
    """Return a copy of a JSON document without documentation strings, at any depth."""
    if isinstance(node, dict):
        return {k: strip_documentation(v) for k, v in node.items() if k not in STRIPPED_KEYS}
    if isinstance(node, list):
        return [strip_documentation(v) for v in node]
    return node


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            f"botocore=={BOTOCORE_VERSION}",
            "--dest",
            str(dest),
        ],
        check=True,
    )
    wheels = list(dest.glob(f"botocore-{BOTOCORE_VERSION}-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(
            f"expected one botocore {BOTOCORE_VERSION} wheel in {dest}, found {wheels}"
        )
    return wheels[0]


def read_member(wheel: zipfile.ZipFile, name: str) -> Any:
    base = f"botocore/data/opsworkscm/{API_VERSION}/{name}"
    names = set(wheel.namelist())
    if base in names:
        return json.loads(wheel.read(base))
    if f"{base}.gz" in names:
        return json.loads(gzip.decompress(wheel.read(f"{base}.gz")))
    raise SystemExit(f"{base} is not in the wheel")


def extract(wheel_path: Path, out_root: Path) -> list[Path]:
    out_dir = out_root / "opsworkscm" / API_VERSION
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel_path) as wheel:
        for name in FILES:
            document = strip_documentation(read_member(wheel, name))
            target = out_dir / name
            target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local botocore {BOTOCORE_VERSION} wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="models root (AWS_DATA_PATH)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(Path(tmp))
        for path in extract(wheel, args.out):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
