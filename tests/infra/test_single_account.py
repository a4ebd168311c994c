"""Single-account users see no change: with none of the estate keys (`deployments`,
`monitoringAccount`, `organizationUnits`), the default synth is today's template, byte for byte,
apart from the content hash of the function code (which any change to lambda/ moves)."""

from __future__ import annotations

import re
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "default-template.json"
# An asset's content hash: the code's, not the stack's shape.
ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def test_the_default_synth_is_the_single_stack_of_before_byte_for_byte(
    default_app: object, cdk_out: Path
) -> None:
    synthesized = (cdk_out / "OpsWorksCMBackup.template.json").read_text()
    assert ASSET_HASH.sub("<asset-hash>", synthesized) == SNAPSHOT.read_text()


def test_the_default_synth_is_one_stack_and_no_stage(default_app: object, cdk_out: Path) -> None:
    templates = sorted(p.name for p in cdk_out.rglob("*.template.json"))
    assert templates == ["OpsWorksCMBackup.template.json"]
