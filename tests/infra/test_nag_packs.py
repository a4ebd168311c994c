"""The stack as a regulated team's auditors read it: every cdk-nag rule pack `nagPacks` accepts,
run on the stack as deployed by default and with every feature on, leaves no finding
unacknowledged; a pack named in `nagPacks` fails the synth on a finding of its own.

Each app is synthesized once (the default one is the session's) and each pack then walks its
construct tree as the synth's validation does, so that a finding fails the one pack's test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from infra.config import RulePack
from infra.constructs.nag import PACKS, check
from local.cloud import synthesized_app

# Every feature on: the alert e-mail (its subscription and redrive), weekly restore drills.
# (The session's variant synth runs every pack itself: tests/support/stack.py.)
FEATURED = {"alertEmail": "ops@example.com", "restoreDrill": "weekly"}


@pytest.fixture(scope="module")
def apps(default_app: App, tmp_path_factory: pytest.TempPathFactory) -> dict[str, App]:
    """The default app and the featured one, each synthesized once."""
    featured = synthesized_app(FEATURED, tmp_path_factory.mktemp("cdk.out.featured"))
    return {"default": default_app, "featured": featured}


def findings(app: App, pack: RulePack) -> list[str]:
    """What `pack` finds on `app` that no acknowledgement answers, as `rule on path`."""
    report = PACKS[pack][0]().validate_scope(app)
    return [
        f"{violation.rule_name} on {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]


@pytest.mark.parametrize("pack", list(RulePack), ids=[pack.value for pack in RulePack])
@pytest.mark.parametrize("app", ["default", "featured"])
def test_no_finding_of_any_pack_is_left_unacknowledged(
    apps: dict[str, App], app: str, pack: RulePack
) -> None:
    assert findings(apps[app], pack) == []


def test_the_featured_app_has_what_the_packs_were_asked_about(apps: dict[str, App]) -> None:
    template = apps["featured"].synth().get_stack_by_name("OpsWorksCMBackup").template
    kinds = [r["Type"] for r in template["Resources"].values()]

    assert kinds.count("AWS::SNS::Subscription") == 1
    assert kinds.count("AWS::Logs::LogGroup") == 5
    assert kinds.count("AWS::Lambda::Function") == 3


# What each pack finds on a queue and a log group made with no care: AWS Solutions, the queue's
# missing dead-letter queue; Serverless, its redrive policy; the others, the log group's key.
PLANTED = {
    RulePack.AWS_SOLUTIONS: "AwsSolutions-SQS3",
    RulePack.SERVERLESS: "Serverless-SQSRedrivePolicy",
    RulePack.NIST_800_53_R5: "NIST.800.53.R5-CloudWatchLogGroupEncrypted",
    RulePack.HIPAA_SECURITY: "HIPAA.Security-CloudWatchLogGroupEncrypted",
    RulePack.PCI_DSS_321: "PCI.DSS.321-CloudWatchLogGroupEncrypted",
}


@pytest.mark.parametrize("pack", list(RulePack), ids=[pack.value for pack in RulePack])
def test_a_pack_named_fails_the_synth_on_its_own_finding(tmp_path: Path, pack: RulePack) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Careless")
    sqs.Queue(stack, "Queue")
    logs.LogGroup(stack, "Logs", retention=logs.RetentionDays.ONE_WEEK)
    check(app, [pack])

    with pytest.raises(RuntimeError, match=PLANTED[pack].replace(".", r"\.")):
        app.synth()
