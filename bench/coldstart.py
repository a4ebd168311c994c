"""Figure 4: a cold-start proxy (handler import time) and the size of the Lambda asset."""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.env import LAMBDA_ROOT
from bench.report import Row
from infra.assets.files import asset_files

RUNS = 5
# Lambda's limits for a function's deployment package uploaded directly.
ZIPPED_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
IMPORT = (
    "import time\n"
    "started = time.perf_counter()\n"
    "import backup_orchestrator.handlers.orchestrator as h\n"
    "print(time.perf_counter() - started)\n"
    "print(h.__file__)\n"
)


@dataclass
class ColdStart:
    import_seconds: list[float]
    files: int
    asset_bytes: int
    zipped_bytes: int

    @property
    def median(self) -> float:
        return statistics.median(self.import_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "importSeconds": [round(s, 4) for s in self.import_seconds],
            "importSecondsMedian": round(self.median, 4),
            "python": sys.version.split()[0],
            "assetFiles": self.files,
            "assetBytes": self.asset_bytes,
            "assetZippedBytes": self.zipped_bytes,
        }


def zipped_size(root: Path, files: list[Path]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root).as_posix())
    return len(buffer.getvalue())


def import_once(asset: Path) -> float:
    """Import the handler in a fresh interpreter from a copy of the asset, without bytecode
    caches for it (the asset ships none), as a new Lambda container would."""
    env = {**os.environ, "PYTHONPATH": str(asset), "AWS_DATA_PATH": str(asset / "models")}
    answer = subprocess.run(
        [sys.executable, "-B", "-c", IMPORT],
        cwd=asset,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seconds, location = answer.stdout.split()
    if not Path(location).is_relative_to(asset):
        raise RuntimeError(f"imported the handler from {location}, not from the asset copy")
    return float(seconds)


def measure(runs: int = RUNS) -> ColdStart:
    files = asset_files()
    with tempfile.TemporaryDirectory(prefix="bench-asset-") as tmp:
        asset = Path(tmp)
        for path in files:
            target = asset / path.relative_to(LAMBDA_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        seconds = [import_once(asset) for _ in range(runs)]
    return ColdStart(
        import_seconds=seconds,
        files=len(files),
        asset_bytes=sum(path.stat().st_size for path in files),
        zipped_bytes=zipped_size(LAMBDA_ROOT, files),
    )


def rows(figure: ColdStart) -> list[Row]:
    spread = f"{min(figure.import_seconds):.2f}-{max(figure.import_seconds):.2f} s"
    return [
        Row(
            f"handler import, median of {len(figure.import_seconds)}",
            f"{figure.median * 1000:.0f} ms ({spread})",
            "-",
            None,
        ),
        Row(
            "Lambda asset",
            f"{figure.asset_bytes / 1024:.1f} KiB in {figure.files} files",
            "<= 250 MiB unzipped",
            figure.asset_bytes <= UNZIPPED_LIMIT,
            "over Lambda's unzipped limit",
        ),
        Row(
            "Lambda asset, zipped",
            f"{figure.zipped_bytes / 1024:.1f} KiB",
            "<= 50 MiB",
            figure.zipped_bytes <= ZIPPED_LIMIT,
            "over Lambda's direct-upload limit",
        ),
    ]
