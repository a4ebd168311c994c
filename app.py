"""CDK entry point: read the configuration from context, build the stack, check it with the
cdk-nag rule packs the configuration names (`nagPacks`).

The CDK CLI (`cdk synth`, `cdk deploy`) runs this file with cdk.json's context and its `-c`
options already merged into the environment. Run directly (`python app.py -c key=value`, what
`make synth` does), it reads cdk.json's context itself and takes `-c` options the same way, so
both give the same template.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment

from infra.config import ConfigError, from_context
from infra.constructs.nag import check
from infra.stack import BackupOrchestratorStack

STACK_NAME = "OpsWorksCMBackup"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"
# Set by the CDK CLI when it runs the app: the context is then already in the environment.
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")


def build(app: App) -> BackupOrchestratorStack:
    """Add the stack, checked by the cdk-nag packs of `nagPacks`, to `app`. Raises ConfigError."""
    config = from_context(app.node.get_all_context())
    stack = BackupOrchestratorStack(
        app, STACK_NAME, config=config, env=Environment(account=None, region=None)
    )
    check(app, config.nag_packs)
    return stack


def default_context() -> dict[str, Any]:
    """cdk.json's context: the defaults and feature flags the CDK CLI would pass."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


def command_line_context(argv: list[str]) -> dict[str, str]:
    """`-c key=value` / `--context key=value` options, as text, like the CDK CLI passes them.

    Raises ConfigError for an option that is not `key=value`.
    """
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    options = parser.parse_args(argv)
    context: dict[str, str] = {}
    for option in options.context:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"context option {option!r} must look like key=value")
        context[key] = value
    return context


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    try:
        if any(name in os.environ for name in CLI_CONTEXT_VARIABLES):
            app = App()
        else:
            app = App(
                outdir=os.environ.get("CDK_OUTDIR"),
                context={**default_context(), **command_line_context(arguments)},
            )
        build(app)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
