"""The functions' code: the allow-listed asset files, staged by CDK's local bundling (a plain copy
in this process, so no Docker is needed), and the runtime it runs on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.assets.files import LAMBDA_ROOT, asset_files

# The newest Python runtime for which Powertools publishes its layer's public SSM parameter
# (layer.PYTHON, the layer's flavour, names the same version). The code stays importable by the
# Python the tests and local runs use (3.11).
RUNTIME = lambda_.Runtime.PYTHON_3_14


@jsii.implements(ILocalBundling)
class _CopyAllowList:
    # jsii hands the bundling options over positionally, not as the keywords its stub declares.
    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        for path in asset_files():
            target = Path(output_dir) / path.relative_to(LAMBDA_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return True


def function_code() -> lambda_.Code:
    """The asset, hashed on what it holds (stray files in lambda/ do not change it)."""
    return lambda_.Code.from_asset(
        str(LAMBDA_ROOT),
        asset_hash_type=AssetHashType.OUTPUT,
        # Local bundling always succeeds, so CDK never pulls or runs this image.
        bundling=BundlingOptions(
            image=DockerImage.from_registry("scratch"), local=_CopyAllowList()
        ),
    )
