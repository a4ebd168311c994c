"""The stack synthesized with non-default context options, the way `make synth ARGS=...` runs:
each option reaches the template, and files lying in the asset source do not ship."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.assets.files import LAMBDA_ROOT, asset_files
from infra.assets.layer import powertools_version
from local.cloud import MACHINES
from scripts.stack_summary import layer_source, main
from tests.support.stack import (
    FUNCTIONS,
    STRAY_FILES,
    VARIANT_CONTEXT,
    Synthesized,
    asset_of,
    definition,
    lambda_function,
    machine,
    only,
    resources,
)


def test_schedule_and_zone_come_from_context(variant: Synthesized) -> None:
    _, schedule = only(variant.template, "AWS::Scheduler::Schedule")

    assert schedule["Properties"]["ScheduleExpression"] == "cron(30 1 ? * MON-FRI *)"
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "Europe/London"


def test_watchdog_follows_the_weekday_schedule(variant: Synthesized) -> None:
    # Friday to Monday, 73 hours over the weekend the clocks go back, + deadline + 1 hour.
    [watchdog] = [
        a
        for a in resources(variant.template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "BackupsSucceeded"
    ]

    assert watchdog["Properties"]["EvaluationPeriods"] == 77


def test_optional_email_subscription(variant: Synthesized) -> None:
    [subscription] = resources(variant.template, "AWS::SNS::Subscription").values()
    undelivered, _ = only(variant.template, "AWS::SQS::Queue", "AlertsUndelivered")

    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"
    # What SNS cannot deliver after its retries waits in the topic's dead-letter queue.
    assert subscription["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [undelivered, "Arn"]}
    }


def test_reserved_concurrency_0_reserves_none(
    variant: Synthesized, template_json: dict[str, Any]
) -> None:
    _, function = lambda_function(variant.template)
    _, default = lambda_function(template_json)

    assert "ReservedConcurrentExecutions" not in function["Properties"]
    # The default (1) serializes runs; the state machines' functions never reserve any.
    assert default["Properties"]["ReservedConcurrentExecutions"] == 1
    for template in (variant.template, template_json):
        for owner in ("Tracker", "Drill"):
            _, task = lambda_function(template, owner)
            assert "ReservedConcurrentExecutions" not in task["Properties"], owner


@pytest.mark.parametrize("kind", MACHINES)
def test_tracker_log_level_comes_from_context(variant: Synthesized, kind: str) -> None:
    # trackerLogLevel sets the drill state machine's level too.
    _, found = machine(variant.template, kind)

    assert found["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_a_given_layer_arn_replaces_the_parameter_lookup(variant: Synthesized, owner: str) -> None:
    _, function = lambda_function(variant.template, owner)

    assert function["Properties"]["Layers"] == [VARIANT_CONTEXT["powertoolsLayerArn"]]
    assert not [
        p for p in variant.template["Parameters"].values() if "powertools" in str(p["Default"])
    ]


def shipped(asset: Path) -> set[str]:
    return {str(p.relative_to(asset)) for p in asset.rglob("*") if p.is_file()}


def test_stray_files_in_the_asset_source_do_not_ship(variant: Synthesized) -> None:
    files = shipped(asset_of(variant))

    assert files == {str(p.relative_to(LAMBDA_ROOT)) for p in asset_files()}
    assert files.isdisjoint(STRAY_FILES)
    assert "backup_orchestrator/handlers/orchestrator.py" in files
    # Every layer ships, at any depth.
    for layer in ("aws", "contract", "domain", "handlers", "run"):
        assert f"backup_orchestrator/{layer}/__init__.py" in files
    assert "models/opsworkscm/2016-11-01/service-2.json" in files
    assert not [f for f in files if "owcm_backup" in f or "/cli/" in f]


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_the_asset_is_hashed_on_what_it_ships(
    variant: Synthesized, template_json: dict[str, Any], owner: str
) -> None:
    _, plain = lambda_function(template_json, owner)
    _, planted = lambda_function(variant.template, owner)

    assert planted["Properties"]["Code"]["S3Key"] == plain["Properties"]["Code"]["S3Key"]


def test_drill_settings_and_roles_come_from_context(variant: Synthesized) -> None:
    _, function = lambda_function(variant.template)
    variables = function["Properties"]["Environment"]["Variables"]
    _, drill_function = lambda_function(variant.template, "Drill")
    [passing] = [
        statement
        for policy in resources(variant.template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Sid") == "PassDrillRoles"
    ]
    [passing_policy] = [
        policy
        for policy in resources(variant.template, "AWS::IAM::Policy").values()
        if passing in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    assert variables["RESTORE_DRILL"] == "monthly"
    assert variables["DRILL_DEADLINE_SECONDS"] == "3600"
    assert variables["DRILL_SERVICE_ROLE_ARN"] == VARIANT_CONTEXT["drillServiceRoleArn"]
    assert variables["DRILL_INSTANCE_PROFILE_ARN"] == VARIANT_CONTEXT["drillInstanceProfileArn"]
    assert sorted(passing["Resource"]) == sorted(
        [VARIANT_CONTEXT["drillServiceRoleArn"], VARIANT_CONTEXT["drillInstanceRoleArn"]]
    )
    # The drill's function passes them, in CreateServer.
    [drill_role, _] = drill_function["Properties"]["Role"]["Fn::GetAtt"]
    assert passing_policy["Properties"]["Roles"] == [{"Ref": drill_role}]
    # Two deadlines (the wait for the source and the restore), the cleanup hour, the calls.
    assert definition(variant.template, "Drill")["TimeoutSeconds"] == 2 * 3600 + 3600 + 900


def test_the_synth_summary_says_where_the_layer_comes_from(
    template_json: dict[str, Any], variant: Synthesized
) -> None:
    looked_up = layer_source(template_json)
    given = layer_source(variant.template)

    path = f"/aws/service/powertools/python/arm64/python3.14/{powertools_version()}"
    assert f"aws ssm get-parameter --name {path} --region <region>" in looked_up
    assert "-c powertoolsLayerArn=" in looked_up
    assert given == "Powertools layer: the ARN given in powertoolsLayerArn."


def test_the_synth_summary_gives_each_packs_verdict_and_reasons(
    variant: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    options = [f"--context={key}={value}" for key, value in VARIANT_CONTEXT.items()]

    assert main(["stack_summary", str(variant.outdir), *options]) == 0
    out = capsys.readouterr().out
    assert (
        "cdk-nag AwsSolutions, Serverless, NIST80053R5, HIPAASecurity, PCIDSS321: "
        "0 unacknowledged findings" in out
    )
    assert "PCI.DSS.321-LambdaInsideVPC on /OpsWorksCMBackup/Orchestrator" in out
    # With reservedConcurrency 0, the orchestrator says why it reserves none.
    assert "NIST.800.53.R5-LambdaConcurrency on /OpsWorksCMBackup/Orchestrator" in out
