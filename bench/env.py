"""The process environment the benchmarks need: fake credentials and the OpsWorks CM model."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = REPO_ROOT / "lambda"
BASE = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
    "POWERTOOLS_METRICS_NAMESPACE": "OpsWorksCMBackup",
    "AWS_DATA_PATH": str(LAMBDA_ROOT / "models"),
}


def apply() -> None:
    """Set the base environment; call before anything imports boto3."""
    os.environ.update(BASE)
    os.environ.pop("AWS_PROFILE", None)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` for the duration of the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
