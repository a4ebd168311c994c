"""Print what `make synth` produced: the stack's resources and cdk-nag's verdict.

Usage: python scripts/stack_summary.py [CDK_OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

STACK = "OpsWorksCMBackup"


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "cdk.out")
    template = json.loads((out / f"{STACK}.template.json").read_text())
    resources = template["Resources"]
    print(f"Stack {STACK}: {len(resources)} resources")
    for logical, resource in resources.items():
        print(f"  {resource['Type']:<40} {logical}")
    counts = Counter(r["Type"] for r in resources.values())
    print("By type: " + ", ".join(f"{n} {t.split('::', 1)[1]}" for t, n in sorted(counts.items())))

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
    ]
    print(
        f"\ncdk-nag AwsSolutions: {len(findings)} unacknowledged findings, "
        f"{len(acknowledged)} acknowledged with a reason:"
    )
    for path, rule, reason in acknowledged:
        print(f"  {rule} on {path}\n      {reason}")
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
