"""CDK entry point: read the configuration from context, build the stack, check it with the
cdk-nag rule packs the configuration names (`nagPacks`).

With the estate keys (infra/config/estate.py): one stage per deployment (`Deploy-<account>-
<region>`, its stack in that account-region), one per region of the monitoring account's central
stack (`Central-<region>`), and the StackSet's parent stack for `organizationUnits`; every stack
is checked by the packs of its own configuration.

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

from aws_cdk import App, Environment, Stack, Stage

from infra.config import ConfigError
from infra.config.estate import (
    STACK_NAME,
    STACK_SET_STACK_NAME,
    Estate,
    central_stack_name,
    estate_from_context,
)
from infra.constructs.nag import check
from infra.estate.central import CentralStack
from infra.estate.member import Member, MemberParts, Membership
from infra.estate.stack_set import MemberStackSet
from infra.stack import BackupOrchestratorStack

__all__ = ["STACK_NAME", "build", "build_estate", "command_line_context", "default_context", "main"]

CDK_JSON = Path(__file__).resolve().parent / "cdk.json"
# Set by the CDK CLI when it runs the app: the context is then already in the environment.
CLI_CONTEXT_VARIABLES = ("CDK_CONTEXT_JSON", "CONTEXT_OVERFLOW_LOCATION_ENV")


def build(app: App) -> list[Stack]:
    """Add the stacks the context describes, each checked by the cdk-nag packs of its
    `nagPacks`, to `app`: the single stack, or the estate's. Raises ConfigError."""
    estate = estate_from_context(app.node.get_all_context())
    if not estate.single:
        return build_estate(app, estate)
    config = estate.base
    stack = BackupOrchestratorStack(
        app, STACK_NAME, config=config, env=Environment(account=None, region=None)
    )
    check(app, config.nag_packs)
    return [stack]


def build_estate(app: App, estate: Estate) -> list[Stack]:
    """A stage per deployment, per central region, and for the StackSet's parent stack, each
    checked by the packs of its own configuration (packs added to the App would reach into
    every stage, so a deployment's own `nagPacks` could not replace them)."""
    stacks: list[Stack] = []
    for deployment in estate.deployments:
        account, region = deployment.account, deployment.region
        stage = Stage(app, f"Deploy-{account}-{region}")
        stack = BackupOrchestratorStack(
            stage,
            STACK_NAME,
            config=deployment.config,
            env=Environment(account=account, region=region),
            stack_name=deployment.stack_name,
        )
        Member(
            stack,
            "Estate",
            membership=Membership(estate.monitoring_account, estate.sinks.get(region)),
            parts=MemberParts.of(stack.body),
        )
        stacks.append(stack)
        check(stage, deployment.config.nag_packs)
    monitoring = estate.monitoring_account
    for region in estate.regions if monitoring else ():
        stage = Stage(app, f"Central-{region}")
        stacks.append(
            CentralStack(
                stage,
                "Central",
                env=Environment(account=monitoring, region=region),
                stack_name=central_stack_name(region),
                config=estate.base,
                members=[d for d in estate.deployments if d.region == region],
                organization=estate.organization,
            )
        )
        check(stage, estate.base.nag_packs)
    if estate.organization:
        stage = Stage(app, "StackSet")
        stacks.append(
            MemberStackSet(
                stage,
                STACK_SET_STACK_NAME,
                stack_name=STACK_SET_STACK_NAME,
                config=estate.base,
                organization=estate.organization,
                monitoring_account=monitoring,
                sinks=dict(estate.sinks),
                env=Environment(account=None, region=None),
            )
        )
        check(stage, estate.base.nag_packs)
    return stacks


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
