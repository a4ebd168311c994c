"""Print what `make synth` produced: each stack's resources (the single stack, or every stack of
an estate: docs/estate.md), where the Powertools layer comes from, and the verdict of the cdk-nag
packs they were checked against (`nagPacks`, read from cdk.json and the same `-c` options the
synth had).

Usage: python -m scripts.stack_summary [CDK_OUT_DIR [-c key=value ...]]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from app import command_line_context, default_context
    from infra.config.estate import estate_from_context
    from infra.constructs.nag import PACKS

    out = Path(argv[1] if len(argv) > 1 else "cdk.out")
    estate = estate_from_context({**default_context(), **command_line_context(argv[2:])})
    # Every pack any stack was checked with (a deployment may name its own).
    packs = list(
        dict.fromkeys(
            [*estate.base.nag_packs, *(p for d in estate.deployments for p in d.config.nag_packs)]
        )
    )
    prefixes = tuple(f"{PACKS[pack][1]}-" for pack in packs)
    # The single stack's files are in `out`; an estate's, in one nested assembly per stage.
    templates = [template for template, _ in stacks_in(out)]
    for template, title in stacks_in(out):
        print_stack(template, title)
    violations = [
        violation
        for report in out.rglob("validation-report.json")
        for plugin in json.loads(report.read_text()).get("pluginReports", [])
        for violation in plugin.get("violations", [])
    ]
    # Warnings are the app's own (an estate member without its sink yet), not findings.
    findings = [v for v in violations if v.get("severity") != "warning"]
    for warning in (v for v in violations if v.get("severity") == "warning"):
        print(f"\nWarning: {warning['description']}")
    acknowledged = [
        (path, rule, reason)
        for template in templates
        for path, rule, reason in acknowledged_rules(template, prefixes)
    ]
    print(
        f"\ncdk-nag {', '.join(packs)}: {len(findings)} unacknowledged findings, "
        f"{len(acknowledged)} acknowledged with a reason:"
    )
    for path, rule, reason in acknowledged:
        print(f"  {rule} on {path}\n      {reason}")
    return 1 if findings else 0


def stacks_in(out: Path) -> list[tuple[Path, str]]:
    """Every stack of the cloud assembly in `out` and of its stages' nested assemblies: its
    template file, and its name with its path and environment when it has them."""
    found = []
    for manifest in sorted(out.rglob("manifest.json")):
        for artifact_id, artifact in json.loads(manifest.read_text())["artifacts"].items():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            name = artifact["properties"].get("stackName", artifact_id)
            path = artifact.get("displayName", name)
            environment = artifact.get("environment", "")
            where = "" if environment.startswith("aws://unknown-account") else f", {environment}"
            title = name if path == name else f"{name} ({path}{where})"
            found.append((manifest.parent / artifact["properties"]["templateFile"], title))
    return found


def print_stack(path: Path, title: str) -> None:
    """One stack's resources and where its Powertools layer comes from."""
    template = json.loads(path.read_text())
    resources = template["Resources"]
    print(f"Stack {title}: {len(resources)} resources")
    for logical, resource in resources.items():
        print(f"  {resource['Type']:<40} {logical}")
    counts = Counter(r["Type"] for r in resources.values())
    print("By type: " + ", ".join(f"{n} {t.split('::', 1)[1]}" for t, n in sorted(counts.items())))
    if any(r["Type"] == "AWS::Lambda::Function" for r in resources.values()):
        print(f"\n{layer_source(template)}")


def acknowledged_rules(template: Path, prefixes: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """The cdk-nag rules of these packs acknowledged in a stack, with their reasons."""
    metadata_file = template.with_name(template.name.replace(".template.json", ".metadata.json"))
    if not metadata_file.exists():
        return []
    metadata = json.loads(metadata_file.read_text())
    return [
        (path, rule.removeprefix("Annotation::"), reason)
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
        if rule.removeprefix("Annotation::").startswith(prefixes)
    ]


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
