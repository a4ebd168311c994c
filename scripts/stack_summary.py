"""Print what `make synth` produced: the stack's resources, where the Powertools layer comes from,
and the verdict of the cdk-nag packs it was checked against (`nagPacks`, read from cdk.json and
the same `-c` options the synth had).

Usage: python -m scripts.stack_summary [CDK_OUT_DIR [-c key=value ...]]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

STACK = "OpsWorksCMBackup"


def main(argv: list[str]) -> int:
    from app import command_line_context, default_context
    from infra.config import from_context
    from infra.constructs.nag import PACKS

    out = Path(argv[1] if len(argv) > 1 else "cdk.out")
    packs = from_context({**default_context(), **command_line_context(argv[2:])}).nag_packs
    prefixes = tuple(f"{PACKS[pack][1]}-" for pack in packs)
    template = json.loads((out / f"{STACK}.template.json").read_text())
    resources = template["Resources"]
    print(f"Stack {STACK}: {len(resources)} resources")
    for logical, resource in resources.items():
        print(f"  {resource['Type']:<40} {logical}")
    counts = Counter(r["Type"] for r in resources.values())
    print("By type: " + ", ".join(f"{n} {t.split('::', 1)[1]}" for t, n in sorted(counts.items())))
    print(f"\n{layer_source(template)}")

    report = json.loads((out / "validation-report.json").read_text())
    findings = [
        violation
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    metadata = json.loads((out / f"{STACK}.metadata.json").read_text())
    acknowledged = [
        (path, rule.removeprefix("Annotation::"), reason)
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
        if rule.removeprefix("Annotation::").startswith(prefixes)
    ]
    print(
        f"\ncdk-nag {', '.join(packs)}: {len(findings)} unacknowledged findings, "
        f"{len(acknowledged)} acknowledged with a reason:"
    )
    for path, rule, reason in acknowledged:
        print(f"  {rule} on {path}\n      {reason}")
    return 1 if findings else 0


def layer_source(template: dict[str, Any]) -> str:
    """Where the functions' Powertools layer comes from: the public SSM parameter CloudFormation
    reads at deploy time (which must exist in the target region), or the ARN given."""
    paths = [
        p["Default"]
        for p in template.get("Parameters", {}).values()
        if str(p.get("Default", "")).startswith("/aws/service/powertools/")
    ]
    if not paths:
        return "Powertools layer: the ARN given in powertoolsLayerArn."
    return (
        f"Powertools layer: read at deploy time from the public SSM parameter {paths[0]}.\n"
        "  Check it exists in the target region before deploying (CloudFormation fails before "
        "creating anything when it does not):\n"
        f"  aws ssm get-parameter --name {paths[0]} --region <region> --query Parameter.Value\n"
        "  If it is missing, deploy with -c powertoolsLayerArn=<a layer ARN of that version>."
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
