"""The CDK app's entry: context from cdk.json, `-c` options (the CDK CLI's, `make synth`'s),
one clear error naming a bad key, and cdk-nag failing the synth on a finding."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import command_line_context, default_context
from infra.config import ConfigError, RulePack, from_context

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"schedule": "rate(1 days)"}, "schedule"),
        ({"schedule": "cron(0 2 * *)"}, "schedule"),
        ({"schedule": "cron(0 2 * * * *)"}, "schedule"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"selectTag": "enabled"}, "selectTag"),
        ({"retain": 0}, "retain"),
        ({"retain": "many"}, "retain"),
        ({"pruneScope": "everything"}, "pruneScope"),
        ({"alertEmail": "not-an-address"}, "alertEmail"),
        ({"pollSeconds": 1}, "pollSeconds"),
        ({"deadlineSeconds": 10}, "deadlineSeconds"),
        ({"powertoolsLayerArn": "AWSLambdaPowertoolsPythonV3:7"}, "powertoolsLayerArn"),
        ({"powertoolsLayerVersion": 36}, "powertoolsLayerVersion"),
        ({"reservedConcurrency": 2}, "reservedConcurrency"),
        ({"trackerLogLevel": "DEBUG"}, "trackerLogLevel"),
        ({"maxServers": 0}, "maxServers"),
        ({"watchdogHours": 500}, "watchdogHours"),
        ({"logRetentionDays": 42}, "logRetentionDays"),
        ({"retian": 5}, "retian"),
        ({"rpoHours": 0}, "rpoHours"),
        ({"rpoHours": 12}, "rpoHours"),  # shorter than the daily schedule's gap
        ({"retryWindowMinutes": 721}, "retryWindowMinutes"),
        ({"schedule": "cron(0 * * * ? *)", "retryWindowMinutes": 60}, "retryWindowMinutes"),
        ({"complianceCountsAutomated": "sometimes"}, "complianceCountsAutomated"),
        ({"restoreDrill": "daily"}, "restoreDrill"),
        ({"drillDeadlineSeconds": 600}, "drillDeadlineSeconds"),
        ({"drillServiceRoleArn": "aws-opsworks-cm-service-role"}, "drillServiceRoleArn"),
        ({"nagPacks": "[AwsSolutions,NIST]"}, "nagPacks"),
        ({"nagPacks": "[]"}, "nagPacks"),
        ({"nagPacks": {"pack": "Serverless"}}, "nagPacks"),
        (
            {"drillInstanceProfileArn": "arn:aws:iam::123456789012:role/not-a-profile"},
            "drillInstanceProfileArn",
        ),
        # The role in a custom instance profile is not derivable from the profile's name.
        (
            {"drillInstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/cm-ec2"},
            "drillInstanceRoleArn",
        ),
    ],
)
def test_bad_context_names_the_key(context: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        from_context(context)

    assert key in str(excinfo.value)


@pytest.mark.parametrize(
    "given",
    [
        ["Serverless", "HIPAASecurity"],
        '["Serverless","HIPAASecurity"]',  # the CDK CLI's -c nagPacks='["Serverless",...]'
        "[Serverless,HIPAASecurity]",  # make synth ARGS='-c nagPacks=["Serverless",...]'
        "Serverless, HIPAASecurity",
        ["Serverless", "HIPAASecurity", "Serverless"],
    ],
)
def test_nag_packs_are_a_list_as_json_or_names_separated_by_commas(given: Any) -> None:
    assert from_context({"nagPacks": given}).nag_packs == (
        RulePack.SERVERLESS,
        RulePack.HIPAA_SECURITY,
    )


def test_nag_packs_default_to_aws_solutions_and_a_wrong_one_is_told_the_packs() -> None:
    with pytest.raises(ConfigError) as excinfo:
        from_context({"nagPacks": "[PCIDSS321,NIST80053]"})

    assert from_context({}).nag_packs == (RulePack.AWS_SOLUTIONS,)
    assert str(excinfo.value) == (
        "context key nagPacks='[PCIDSS321,NIST80053]': 'NIST80053' is not a cdk-nag rule pack; "
        "the packs are: AwsSolutions, Serverless, NIST80053R5, HIPAASecurity, PCIDSS321"
    )


def test_compliance_defaults_come_from_the_schedule() -> None:
    daily = from_context({})
    hourly = from_context({"schedule": "cron(0 * * * ? *)"})
    weekdays = from_context({"schedule": "cron(30 1 ? * MON-FRI *)", "timeZone": "Europe/London"})

    # The longest gap, plus the retry window, plus the backup deadline (3 h), rounded up.
    assert (daily.retry_window, daily.rpo) == (120, 24 + 2 + 3)
    # An hourly schedule leaves half an hour between slots for retries.
    assert (hourly.retry_window, hourly.rpo) == (30, 5)
    # Over a weekend (and the night the clocks go back): 73 hours.
    assert (weekdays.retry_window, weekdays.rpo) == (120, 73 + 2 + 3)


def test_compliance_keys_set_what_the_function_gets() -> None:
    config = from_context(
        {"rpoHours": "48", "retryWindowMinutes": "0", "complianceCountsAutomated": "true"}
    )

    assert (config.rpo, config.retry_window, config.compliance_counts_automated) == (48, 0, True)


def test_context_from_the_command_line_is_text() -> None:
    config = from_context(
        {"retain": "5", "pollSeconds": "30", "@aws-cdk/core:x": True, "aws:cdk:y": 1}
    )

    assert (config.retain, config.poll_seconds) == (5, 30)


def test_synth_with_a_bad_key_exits_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=REPO,
        env={
            "PATH": str(Path(sys.executable).parent),
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps({"retain": 99}),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: context key retain=99")


def test_make_synth_hands_args_to_the_app() -> None:
    make = shutil.which("make")
    assert make is not None
    result = subprocess.run(
        [make, "--dry-run", "synth", "ARGS=-c retain=9 -c timeZone=Europe/London"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "app.py -c retain=9 -c timeZone=Europe/London" in result.stdout


def test_app_run_directly_reads_context_options_like_the_cdk_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py", "-c", "retain=99"],
        cwd=REPO,
        env={"PATH": str(Path(sys.executable).parent), "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: context key retain='99'")


@pytest.mark.parametrize("argv", [["-c", "retain"], ["-c", "=9"]])
def test_a_context_option_that_is_not_key_value_names_itself(argv: list[str]) -> None:
    with pytest.raises(ConfigError, match="must look like key=value"):
        command_line_context(argv)


def test_the_synth_is_checked_by_the_packs_nag_packs_names(tmp_path: Path) -> None:
    from aws_cdk import App
    from aws_cdk import aws_logs as logs

    from app import build

    # As `make synth ARGS='-c nagPacks=["NIST80053R5"]'` leaves it after the shell's quoting.
    app = App(outdir=str(tmp_path), context={**default_context(), "nagPacks": "[NIST80053R5]"})
    [stack] = build(app)
    # Kept a week, unencrypted: AWS Solutions does not look at a log group's key, NIST does.
    logs.LogGroup(stack, "Unencrypted", retention=logs.RetentionDays.ONE_WEEK)

    with pytest.raises(RuntimeError, match=r"NIST\.800\.53\.R5-CloudWatchLogGroupEncrypted"):
        app.synth()


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    from aws_cdk import App
    from aws_cdk import aws_sqs as sqs

    from app import build

    app = App(outdir=str(tmp_path), context=default_context())
    [stack] = build(app)
    sqs.Queue(stack, "Unencrypted", encryption=sqs.QueueEncryption.UNENCRYPTED)

    with pytest.raises(RuntimeError, match="AwsSolutions-SQS2"):
        app.synth()
