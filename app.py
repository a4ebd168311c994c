"""CDK entry point: read the configuration from context, build the stack, check it with cdk-nag."""

from __future__ import annotations

import sys

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import ConfigError, from_context
from infra.stack import BackupOrchestratorStack

STACK_NAME = "OpsWorksCMBackup"


def build(app: App) -> BackupOrchestratorStack:
    """Add the stack, with cdk-nag's AWS Solutions checks, to `app`. Raises ConfigError."""
    config = from_context(app.node.get_all_context())
    stack = BackupOrchestratorStack(
        app, STACK_NAME, config=config, env=Environment(account=None, region=None)
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> int:
    app = App()
    try:
        build(app)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
