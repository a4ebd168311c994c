"""The estate synthesized once (two accounts by two regions, a monitoring account with the sink of
one region, and the organization's StackSet): every stack where it belongs, each template valid
for CloudFormation and clean for cdk-nag, the read-only role able to read what `owcm-backup
status` reads and nothing else, alerts also sent to the central topic, the monitoring link only
where its sink is known, and no physical name twice in one account-region."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, Stage
from aws_cdk import aws_sqs as sqs
from cdk_stacksets import StackSetStack

from infra.config import RulePack
from infra.config.estate import (
    central_stack_name,
    central_topic_arn,
    orchestrator_role_name,
    read_only_role_name,
    stack_name,
)
from infra.estate.member import NO_SINK_WARNING, STATUS_OPSWORKSCM_ACTIONS
from local.cloud import ACCOUNT, REGION, resolve, synthesized_app
from scripts.stack_summary import main as summary
from tests.infra.test_nag_packs import findings
from tests.infra.test_permissions import allowed, function_role, physical
from tests.infra.test_policies import Request, decide
from tests.support.stack import lambda_function, resources

A, B, MONITORING, OTHER = "111111111111", "222222222222", "999999999999", "333333333333"
LINKED, UNLINKED = "eu-west-1", "us-east-1"
SINK = f"arn:aws:oam:{LINKED}:{MONITORING}:sink/1a2b3c4d-0000-1111-2222-333344445555"
OUS = ["ou-ab12-cdef3456", "ou-ab12-99990000"]
ESTATE = {
    "deployments": [
        {"account": A, "region": LINKED},
        {"account": A, "region": UNLINKED, "maxServers": 7},
        {"account": B, "region": LINKED},
        {"account": B, "region": UNLINKED},
    ],
    "monitoringAccount": MONITORING,
    "monitoringSinks": {LINKED: SINK},
    "organizationUnits": {
        "ids": OUS,
        "regions": [LINKED, UNLINKED],
        "assetBucketPrefix": "acme-owcm-assets",
    },
}
MEMBERS = [(a, r) for a in (A, B) for r in (LINKED, UNLINKED)]


@dataclass(frozen=True)
class Synthesized:
    app: App
    stacks: dict[str, Stack]  # by stack name
    templates: dict[str, dict[str, Any]]
    files: dict[str, Path]
    warnings: dict[str, list[str]]


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The estate's app, synthesized once (the default pack checks every stack)."""
    app = synthesized_app(ESTATE, tmp_path_factory.mktemp("cdk.out.estate"))
    stacks = {c.stack_name: c for c in app.node.find_all() if isinstance(c, Stack)}
    templates, files, warnings = {}, {}, {}
    for name, stack in stacks.items():
        stage = Stage.of(stack)
        assert stage is not None
        assembly = stage.synth()
        if isinstance(stack, StackSetStack):  # a file of its parent's, not a stack of the stage
            files[name] = Path(assembly.directory) / stack.template_file
            templates[name] = json.loads(files[name].read_text())
            continue
        artifact = assembly.get_stack_artifact(stack.artifact_id)
        templates[name] = artifact.template
        files[name] = Path(artifact.template_full_path)
        warnings[name] = [str(m.data) for m in artifact.find_metadata_by_type("aws:cdk:warning")]
    return Synthesized(app, stacks, templates, files, warnings)


def member(estate: Synthesized, account: str, region: str) -> dict[str, Any]:
    return estate.templates[stack_name(account, region)]


def test_every_stack_is_in_its_account_and_region(estate: Synthesized) -> None:
    members = {stack_name(a, r): (a, r) for a, r in MEMBERS}
    central = {central_stack_name(r): (MONITORING, r) for r in (LINKED, UNLINKED)}

    placed = {
        name: (stack.account, stack.region)
        for name, stack in estate.stacks.items()
        if not stack.nested and name != "OpsWorksCMBackupStackSet" and "Member" not in name
    }

    assert placed == {**members, **central}
    assert "OpsWorksCMBackupStackSet" in estate.stacks


def test_every_template_passes_cfn_lint(estate: Synthesized) -> None:
    result = subprocess.run(
        # W3005: CDK adds DependsOn on roles that a GetAtt already implies; harmless.
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--"]
        + [str(f) for f in estate.files.values()],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(estate.files) == 4 + 2 + 2  # the members, the central stacks, the StackSet's two


@pytest.mark.parametrize(
    "pack",
    [
        RulePack.AWS_SOLUTIONS,
        *(pytest.param(p, marks=pytest.mark.chaos) for p in RulePack if p != "AwsSolutions"),
    ],
    ids=[p.value for p in RulePack],
)
def test_no_stack_has_a_finding_of_any_pack(estate: Synthesized, pack: RulePack) -> None:
    assert findings(estate.app, pack) == []


def test_a_deployments_own_nag_packs_check_its_stage(tmp_path: Path) -> None:
    """The packs are given per stage (the App's would not be the deployment's own): a finding
    of the deployment's own pack in its stage fails the synth."""
    from app import build, default_context

    context = {"deployments": [{"account": A, "region": LINKED, "nagPacks": "[Serverless]"}]}
    app = App(outdir=str(tmp_path), context={**default_context(), **context})
    [stack] = build(app)
    sqs.Queue(stack, "Careless", enforce_ssl=True)

    with pytest.raises(RuntimeError, match="Serverless-SQSRedrivePolicy"):
        app.synth()


def read_only(
    estate: Synthesized, account: str = A, region: str = LINKED
) -> tuple[str, dict[str, Any]]:
    template = member(estate, account, region)
    [(logical, role)] = [
        (k, v)
        for k, v in resources(template, "AWS::IAM::Role").items()
        if v["Properties"].get("RoleName") == read_only_role_name(region)
    ]
    return logical, role


def test_the_read_only_role_may_read_what_status_reads(estate: Synthesized) -> None:
    template = member(estate, A, LINKED)
    role, _ = read_only(estate)
    server = f"arn:aws:opsworks-cm:{REGION}:{ACCOUNT}:server/chef-a/1234"

    for action in STATUS_OPSWORKSCM_ACTIONS:
        assert allowed(template, role, action, "*") == "Allow", action
        assert allowed(template, role, action, server) == "Allow", action


@pytest.mark.parametrize(
    "action",
    [
        "opsworks-cm:CreateBackup",
        "opsworks-cm:DeleteBackup",
        "opsworks-cm:DeleteServer",
        "opsworks-cm:TagResource",
        "sns:Publish",
        "lambda:InvokeFunction",
        "iam:PassRole",
        "states:StartExecution",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "cloudwatch:DescribeAlarms",
        "kms:Decrypt",
    ],
)
def test_the_read_only_role_may_do_nothing_else(estate: Synthesized, action: str) -> None:
    template = member(estate, A, LINKED)
    role, _ = read_only(estate)
    everything = ["*", *physical(template).values()]

    assert [r for r in everything if allowed(template, role, action, r) != "ImplicitDeny"] == []


def test_the_read_only_role_trusts_the_monitoring_account_only(estate: Synthesized) -> None:
    _, role = read_only(estate)
    # A trust policy's resource is the role itself.
    trust = [
        {**statement, "Resource": "*"}
        for statement in resolve(role["Properties"]["AssumeRolePolicyDocument"]["Statement"], {})
    ]

    def asks(account: str, principal_account: str) -> str:
        request = Request(
            {"AWS": f"arn:aws:iam::{account}:root"},
            "sts:AssumeRole",
            f"arn:aws:iam::{A}:role/{read_only_role_name(LINKED)}",
            {"aws:PrincipalAccount": principal_account},
        )
        return decide(trust, request)

    assert asks(MONITORING, MONITORING) == "Allow"
    assert asks(OTHER, OTHER) == "ImplicitDeny"
    assert asks(A, A) == "ImplicitDeny"
    assert asks(MONITORING, OTHER) == "ImplicitDeny"


@pytest.mark.parametrize(("account", "region"), MEMBERS)
def test_the_monitoring_link_is_there_only_where_its_sink_is_known(
    estate: Synthesized, account: str, region: str
) -> None:
    links = resources(member(estate, account, region), "AWS::Oam::Link")
    warned = [w for w in estate.warnings[stack_name(account, region)] if "monitoringSinks" in w]

    if region == LINKED:
        [link] = links.values()
        assert link["Properties"] == {
            "ResourceTypes": ["AWS::CloudWatch::Metric", "AWS::Logs::LogGroup"],
            "SinkIdentifier": SINK,
            "LabelTemplate": "$AccountName",
        }
        assert warned == []
    else:
        assert links == {}
        assert len(warned) == 1, estate.warnings
        assert central_stack_name(region) in warned[0]
    assert NO_SINK_WARNING


@pytest.mark.parametrize(("account", "region"), MEMBERS)
def test_every_alarm_also_notifies_the_central_topic(
    estate: Synthesized, account: str, region: str
) -> None:
    template = member(estate, account, region)
    central = central_topic_arn(MONITORING, region)
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    names = physical(template)
    actions = {
        logical: resolve(a["Properties"].get("AlarmActions", []), names)
        for logical, a in alarms.items()
    }
    [failed] = [k for k in actions if "CentralAlertsFailed" in k]

    # The single stack's 14 alarms, and the one on central copies that failed
    assert len(actions) == 15
    assert all(central in listed for k, listed in actions.items() if k != failed), actions
    # which notifies the stack's own topic: the central way is the one that failed
    assert actions[failed] and central not in actions[failed]
    props = alarms[failed]["Properties"]
    assert (props["MetricName"], props["Threshold"]) == ("CentralAlertsFailed", 1)


def test_the_orchestrator_may_alert_the_central_topic(estate: Synthesized) -> None:
    template = member(estate, A, LINKED)
    role = function_role(template)
    _, function = lambda_function(template, "Orchestrator")
    central = central_topic_arn(MONITORING, LINKED)
    key = f"arn:aws:kms:{LINKED}:{MONITORING}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    via_sns = {"kms:ViaService": f"sns.{LINKED}.amazonaws.com"}

    variables = function["Properties"]["Environment"]["Variables"]
    assert resolve(variables["CENTRAL_ALERT_TOPIC_ARN"], {}) == central
    assert template["Resources"][role]["Properties"]["RoleName"] == orchestrator_role_name(LINKED)
    assert allowed(template, role, "sns:Publish", central) == "Allow"
    assert allowed(template, role, "sns:Publish", central_topic_arn(OTHER, LINKED)) != "Allow"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert allowed(template, role, action, key, **via_sns) == "Allow"
        assert allowed(template, role, action, key) == "ImplicitDeny"
        other = key.replace(MONITORING, OTHER)
        assert allowed(template, role, action, other, **via_sns) == "ImplicitDeny"


def test_a_deployments_own_keys_shape_its_stack_alone(estate: Synthesized) -> None:
    def timeout(account: str, region: str) -> int:
        _, function = lambda_function(member(estate, account, region), "Orchestrator")
        return int(function["Properties"]["Timeout"])

    assert timeout(A, UNLINKED) != timeout(A, LINKED) == timeout(B, UNLINKED)


NAMES = (
    "RoleName",
    "LogGroupName",
    "TopicName",
    "QueueName",
    "TableName",
    "FunctionName",
    "StateMachineName",
    "AlarmName",
    "DashboardName",
    "AliasName",
    "Name",
)


def test_no_physical_name_is_taken_twice_in_an_account_region(estate: Synthesized) -> None:
    taken: Counter[tuple[str, ...]] = Counter()
    for name, template in estate.templates.items():
        stack = estate.stacks[name]
        if stack.account.startswith("${"):  # the StackSet's: one account-region per instance
            continue
        pseudo = {"AWS::Partition": "aws", "AWS::AccountId": stack.account}
        pseudo |= {"AWS::Region": stack.region, "AWS::StackName": name}
        for resource in template["Resources"].values():
            for key in NAMES:
                given = resource.get("Properties", {}).get(key)
                if given is None:
                    continue
                try:
                    value = resolve(given, pseudo)
                except KeyError:
                    continue  # a reference to another resource's generated name
                # IAM names are the account's; any other, the account-region's.
                where = stack.account if key == "RoleName" else f"{stack.account}/{stack.region}"
                taken[(where, resource["Type"], str(value))] += 1

    assert [k for k, n in taken.items() if n > 1] == []
    assert taken[(A, "AWS::IAM::Role", f"OpsWorksCMBackupReadOnly-{LINKED}")] == 1


def test_the_stack_set_deploys_to_the_ous_automatically(estate: Synthesized) -> None:
    template = estate.templates["OpsWorksCMBackupStackSet"]
    [stack_set] = resources(template, "AWS::CloudFormation::StackSet").values()
    properties = stack_set["Properties"]

    assert properties["PermissionModel"] == "SERVICE_MANAGED"
    assert properties["AutoDeployment"]["Enabled"] is True
    [group] = properties["StackInstancesGroup"]
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == OUS
    assert group["Regions"] == [LINKED, UNLINKED]
    assert "CAPABILITY_NAMED_IAM" in properties["Capabilities"]
    # From a delegated administrator unless the config says the management account
    assert properties["CallAs"] == "DELEGATED_ADMIN"


def test_the_stack_set_is_deployed_as_self_from_the_management_account() -> None:
    from aws_cdk.assertions import Template

    from app import default_context
    from infra.config import from_context
    from infra.config.estate import Organization
    from infra.estate.stack_set import MemberStackSet

    organization = Organization(tuple(OUS), (LINKED,), "acme-owcm-assets", "managementAccount")
    stack = MemberStackSet(
        App(),
        "OpsWorksCMBackupStackSet",
        config=from_context(default_context()),
        organization=organization,
        monitoring_account=None,
        sinks={},
    )

    [stack_set] = (
        Template.from_stack(stack).find_resources("AWS::CloudFormation::StackSet").values()
    )
    assert stack_set["Properties"]["CallAs"] == "SELF"


def test_the_stack_sets_member_links_only_where_a_sink_is_known(estate: Synthesized) -> None:
    [template] = [t for n, t in estate.templates.items() if "Member" in n]
    [link] = resources(template, "AWS::Oam::Link").values()

    assert link["Condition"] in template["Conditions"]
    assert template["Mappings"]["MonitoringSinks"] == {
        LINKED: {"Arn": SINK},
        UNLINKED: {"Arn": "none"},
    }


def test_the_synth_summary_lists_every_stack_of_the_estate_with_the_packs_verdict(
    estate: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    # As the CDK CLI passes `-c` options: text, JSON for lists and objects.
    options = [
        f"--context={key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in ESTATE.items()
    ]

    assert summary(["stack_summary", estate.app.outdir, *options]) == 0
    out = capsys.readouterr().out
    for account, region in MEMBERS:
        path = f"Deploy-{account}-{region}/OpsWorksCMBackup, aws://{account}/{region}"
        assert f"Stack {stack_name(account, region)} ({path}):" in out
    for region in (LINKED, UNLINKED):
        assert f"Stack {central_stack_name(region)} (Central-{region}/Central, " in out
    assert "cdk-nag AwsSolutions: 0 unacknowledged findings" in out
    # The member without its region's sink is a warning, not a finding.
    assert f"Warning: No monitoringSinks entry for {UNLINKED}" in out
    assert f"Warning: No monitoringSinks entry for {LINKED}" not in out


def test_without_a_monitoring_account_a_member_is_the_single_stack_and_no_more(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    app = synthesized_app(
        {"deployments": [{"account": A, "region": LINKED}]},
        tmp_path_factory.mktemp("cdk.out.alone"),
    )
    [stack] = [c for c in app.node.find_all() if isinstance(c, Stack)]
    stage = Stage.of(stack)
    assert stage is not None
    template = json.loads((Path(stage.synth().directory) / stack.template_file).read_text())
    roles = {
        r["Properties"].get("RoleName") for r in resources(template, "AWS::IAM::Role").values()
    }
    _, function = lambda_function(template)

    # No role for a monitoring account that is not there, no link, no central alerts
    assert read_only_role_name(LINKED) not in roles
    assert resources(template, "AWS::Oam::Link") == {}
    assert "CENTRAL_ALERT_TOPIC_ARN" not in function["Properties"]["Environment"]["Variables"]
    # the single stack's alarms and no more; its orchestrator role named per region all the same
    assert len(resources(template, "AWS::CloudWatch::Alarm")) == 14
    assert orchestrator_role_name(LINKED) in roles
