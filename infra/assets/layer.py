"""The public Powertools layer the function runs with: the version pinned for the function, found
through the public SSM parameter Powertools publishes per region (no CDK import: tests read it)."""

from __future__ import annotations

import re

from infra.assets.files import LAMBDA_ROOT

REQUIREMENTS = LAMBDA_ROOT / "requirements.txt"
# The functions' runtime (code.RUNTIME) and architecture: the layer must be built for the same.
PYTHON = "3.14"
ARCHITECTURE = "arm64"
_PIN = re.compile(r"^aws-lambda-powertools(?:\[[^\]]*\])?==(?P<version>\d+\.\d+\.\d+)\s*$", re.M)


def powertools_version() -> str:
    """The Powertools version pinned in lambda/requirements.txt (what the tests run).

    Raises ValueError when the file has no exact pin, since the layer must match one release.
    """
    found = _PIN.search(REQUIREMENTS.read_text())
    if found is None:
        raise ValueError(f"{REQUIREMENTS} pins no aws-lambda-powertools==X.Y.Z")
    return found["version"]


def layer_parameter(version: str) -> str:
    """The public SSM parameter holding the layer ARN of `version` in the deploying region."""
    return f"/aws/service/powertools/python/{ARCHITECTURE}/python{PYTHON}/{version}"
