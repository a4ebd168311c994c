"""The monitoring account's central stack, as AWS would read it: who may publish to the central
topic and use its key, who may link to the observability sink and what, the dashboard's row per
member account-region, the central alarms on each member's metrics; cfn-lint and every cdk-nag
pack clean.

One app is synthesized for the module: a central stack for two member accounts in the local
cloud's region (a different RPO each), and one for an organization's unit in another region.
The resource policies are asked of the project's IAM evaluator (tests/infra/test_policies.py),
with what IAM adds for these policies: an account principal (`arn:...:root`, or the bare ID)
stands for every principal of that account, and the multivalued operators ForAllValues /
ForAnyValue test each value of a multivalued key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment

import app as app_module
from infra.config import RulePack, from_context
from infra.config.estate import (
    CENTRAL_TOPIC,
    Deployment,
    Organization,
    central_stack_name,
    orchestrator_role_name,
)
from infra.constructs.nag import PACKS, check
from infra.estate.central import CentralStack
from local.cloud import ACCOUNT, REGION, resolve
from tests.infra.test_policies import Request, decide
from tests.support.stack import only, resources

MEMBERS = ("111111111111", "222222222222")
RPO_HOURS = {"111111111111": 30, "222222222222": 48}
OUTSIDER = "333333333333"
UNIT = "ou-ab12-cdef3456"
ORG_REGION = "eu-west-1"
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{CENTRAL_TOPIC}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SINK_TYPES = ["AWS::CloudWatch::Metric", "AWS::Logs::LogGroup"]


@pytest.fixture(scope="module")
def central_app(tmp_path_factory: pytest.TempPathFactory) -> App:
    """Both central stacks, synthesized once, every cdk-nag pack checking the synth."""
    app = App(outdir=str(tmp_path_factory.mktemp("cdk.out.central")))
    context = {**app_module.default_context(), "alertEmail": "ops@example.com"}
    config = from_context(context)
    members = [
        Deployment(a, REGION, from_context({**context, "rpoHours": str(RPO_HOURS[a])}))
        for a in MEMBERS
    ]
    for name, region, listed, organization in (
        ("Central", REGION, members, None),
        ("CentralOrg", ORG_REGION, [], Organization((UNIT,), (ORG_REGION,), "acme-owcm")),
    ):
        CentralStack(
            app,
            name,
            config=config,
            members=listed,
            organization=organization,
            env=Environment(account=ACCOUNT, region=region),
            stack_name=central_stack_name(region),
        )
    check(app, list(RulePack))
    app.synth()
    return app


def template_of(app: App, stack: str) -> dict[str, Any]:
    template: dict[str, Any] = app.synth().get_stack_artifact(stack).template
    return template


@pytest.fixture(scope="module")
def central(central_app: App) -> dict[str, Any]:
    return template_of(central_app, "Central")


@pytest.fixture(scope="module")
def org_central(central_app: App) -> dict[str, Any]:
    return template_of(central_app, "CentralOrg")


# -- The evaluator, with account principals and multivalued condition keys --------------------


def _account_of(principal: str) -> str:
    return principal if principal.isdigit() else principal.split(":")[4]


def _as_iam_reads(
    statement: dict[str, Any], request: Request, sets: dict[str, list[str]]
) -> dict[str, Any] | None:
    """`statement` with its account principals naming the requester when it is of that account,
    and its multivalued conditions decided (None: one fails)."""
    principal = statement["Principal"]
    requester = request.principal.get("AWS")
    if isinstance(principal, dict) and "AWS" in principal and requester:
        named = principal["AWS"] if isinstance(principal["AWS"], list) else [principal["AWS"]]
        if any(
            (p.isdigit() or p.endswith(":root")) and _account_of(p) == _account_of(requester)
            for p in named
        ):
            statement = {**statement, "Principal": {"AWS": requester}}
    kept: dict[str, Any] = {}
    for operator, block in statement.get("Condition", {}).items():
        qualifier, _, base = operator.rpartition(":")
        if not qualifier:
            kept[operator] = block
            continue
        assert base in ("StringEquals", "StringLike"), operator
        for key, expected in block.items():
            wanted = expected if isinstance(expected, list) else [expected]
            holds = [
                any(v == w if base == "StringEquals" else fnmatchcase(v, w) for w in wanted)
                for v in sets.get(key, [])
            ]
            # IAM: ForAllValues holds for a missing key (no value fails it); ForAnyValue fails.
            if not (all(holds) if qualifier == "ForAllValues" else any(holds)):
                return None
    return {**statement, "Condition": kept}


def ask(
    statements: list[dict[str, Any]],
    request: Request,
    sets: dict[str, list[str]] | None = None,
) -> str:
    read = [_as_iam_reads(s, request, sets or {}) for s in statements]
    return decide([s for s in read if s is not None], request)


def role(account: str, name: str) -> dict[str, str]:
    return {"AWS": f"arn:aws:iam::{account}:role/{name}"}


def orchestrator(account: str, region: str = REGION) -> dict[str, str]:
    return role(account, orchestrator_role_name(region))


def as_role(principal: dict[str, str], **context: str) -> dict[str, str]:
    """The request context of `principal` publishing over TLS (IAM sets aws:PrincipalArn)."""
    return {"aws:PrincipalArn": principal["AWS"], "aws:SecureTransport": "true", **context}


def alarm(account: str, region: str = REGION, source: str | None = None) -> dict[str, str]:
    """CloudWatch acting for an alarm of `account` (its ARN in account `source`, by default the
    same), over TLS."""
    return {
        "aws:SourceAccount": account,
        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{source or account}:alarm:x",
        "aws:SecureTransport": "true",
    }


def topic_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    topic, _ = only(template, "AWS::SNS::Topic")
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic}]
    statements: list[dict[str, Any]] = resolve(
        policy["Properties"]["PolicyDocument"]["Statement"], {topic: TOPIC_ARN}
    )
    return statements


def key_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    key, resource = only(template, "AWS::KMS::Key")
    statements: list[dict[str, Any]] = resolve(
        resource["Properties"]["KeyPolicy"]["Statement"], {key: KEY_ARN}
    )
    return statements


def sink_policy(template: dict[str, Any]) -> list[dict[str, Any]]:
    _, sink = only(template, "AWS::Oam::Sink")
    statements: list[dict[str, Any]] = sink["Properties"]["Policy"]["Statement"]
    return statements


def publish(principal: dict[str, str], context: dict[str, str]) -> Request:
    return Request(principal, "sns:Publish", TOPIC_ARN, context)


def use_key(principal: dict[str, str], context: dict[str, str], action: str) -> Request:
    return Request(principal, action, KEY_ARN, context)


VIA_SNS = {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


# -- Topic and key ------------------------------------------------------------------------------


@pytest.mark.parametrize("member", MEMBERS)
def test_a_members_alarm_may_publish_and_use_the_key(central: dict[str, Any], member: str) -> None:
    assert ask(topic_policy(central), publish(CLOUDWATCH, alarm(member))) == "Allow"
    for action in KEY_ACTIONS:
        assert ask(key_policy(central), use_key(CLOUDWATCH, alarm(member), action)) == "Allow"


def test_the_central_alarms_may_publish(central: dict[str, Any]) -> None:
    assert ask(topic_policy(central), publish(CLOUDWATCH, alarm(ACCOUNT))) == "Allow"


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(alarm(OUTSIDER), id="another account's alarm"),
        pytest.param(alarm(MEMBERS[0], source=OUTSIDER), id="a member's account, not its alarm"),
        pytest.param(alarm(OUTSIDER, source=MEMBERS[0]), id="a member's alarm, another account"),
        pytest.param(alarm(MEMBERS[0], region="eu-west-1"), id="a member's alarm elsewhere"),
        pytest.param({"aws:SecureTransport": "true"}, id="not for an alarm"),
    ],
)
def test_cloudwatch_for_anything_else_may_not_publish_or_use_the_key(
    central: dict[str, Any], context: dict[str, str]
) -> None:
    assert ask(topic_policy(central), publish(CLOUDWATCH, context)) != "Allow"
    for action in KEY_ACTIONS:
        assert ask(key_policy(central), use_key(CLOUDWATCH, context, action)) != "Allow"


@pytest.mark.parametrize("member", MEMBERS)
def test_a_members_orchestrator_may_publish_and_use_the_key_through_sns(
    central: dict[str, Any], member: str
) -> None:
    principal = orchestrator(member)

    assert ask(topic_policy(central), publish(principal, as_role(principal))) == "Allow"
    for action in KEY_ACTIONS:
        through_sns = use_key(principal, as_role(principal, **VIA_SNS), action)
        assert ask(key_policy(central), through_sns) == "Allow"
        # Not the key directly: only SNS, publishing for it, may use it.
        assert ask(key_policy(central), use_key(principal, as_role(principal), action)) != "Allow"


@pytest.mark.parametrize(
    "principal",
    [
        pytest.param(role(MEMBERS[0], "Developer"), id="another role of a member"),
        pytest.param(orchestrator(MEMBERS[0], "eu-west-1"), id="a member's other orchestrator"),
        pytest.param(orchestrator(OUTSIDER), id="an orchestrator of another account"),
        pytest.param({"AWS": f"arn:aws:iam::{MEMBERS[1]}:root"}, id="a member's root"),
    ],
)
def test_no_other_principal_may_publish_or_use_the_key(
    central: dict[str, Any], principal: dict[str, str]
) -> None:
    assert ask(topic_policy(central), publish(principal, as_role(principal))) != "Allow"
    for action in KEY_ACTIONS:
        request = use_key(principal, as_role(principal, **VIA_SNS), action)
        assert ask(key_policy(central), request) != "Allow"


def test_a_role_claiming_anothers_arn_gets_nothing(central: dict[str, Any]) -> None:
    # IAM sets aws:PrincipalArn to the caller's own ARN; the account principal binds the two.
    principal = role(OUTSIDER, "Intruder")
    context = as_role(orchestrator(MEMBERS[0]))

    assert ask(topic_policy(central), publish(principal, context)) != "Allow"


@pytest.mark.parametrize(
    "principal", [CLOUDWATCH, orchestrator(MEMBERS[0])], ids=["an alarm", "an orchestrator"]
)
def test_publishing_without_tls_is_denied(
    central: dict[str, Any], principal: dict[str, str]
) -> None:
    context = {**alarm(MEMBERS[0]), **as_role(orchestrator(MEMBERS[0]))}
    context["aws:SecureTransport"] = "false"

    assert ask(topic_policy(central), publish(principal, context)) == "Deny"


def test_the_topic_has_its_fixed_name_and_a_rotated_key_of_its_own(
    central: dict[str, Any],
) -> None:
    key, resource = only(central, "AWS::KMS::Key")
    _, topic = only(central, "AWS::SNS::Topic")

    assert resource["Properties"]["EnableKeyRotation"] is True
    assert topic["Properties"]["TopicName"] == CENTRAL_TOPIC
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    [subscription] = resources(central, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


# -- Sink -----------------------------------------------------------------------------------


def link(account: str) -> Request:
    return Request({"AWS": f"arn:aws:iam::{account}:role/Admin"}, "oam:CreateLink", "*")


@pytest.mark.parametrize("member", MEMBERS)
@pytest.mark.parametrize("action", ["oam:CreateLink", "oam:UpdateLink"])
def test_a_member_may_link_its_metrics_and_log_groups(
    central: dict[str, Any], member: str, action: str
) -> None:
    request = Request({"AWS": f"arn:aws:iam::{member}:role/Admin"}, action, "*")

    for types in (SINK_TYPES, SINK_TYPES[:1], SINK_TYPES[1:]):
        assert ask(sink_policy(central), request, {"oam:ResourceTypes": types}) == "Allow"


def test_another_account_may_not_link(central: dict[str, Any]) -> None:
    request = link(OUTSIDER)

    assert ask(sink_policy(central), request, {"oam:ResourceTypes": SINK_TYPES}) != "Allow"


@pytest.mark.parametrize("types", [["AWS::XRay::Trace"], [*SINK_TYPES, "AWS::XRay::Trace"]])
def test_a_member_may_link_nothing_else(central: dict[str, Any], types: list[str]) -> None:
    request = link(MEMBERS[0])

    assert ask(sink_policy(central), request, {"oam:ResourceTypes": types}) != "Allow"


def test_the_sink_arn_is_an_output(central: dict[str, Any]) -> None:
    sink, _ = only(central, "AWS::Oam::Sink")

    assert central["Outputs"]["SinkArn"]["Value"] == {"Fn::GetAtt": [sink, "Arn"]}


def in_unit(account: str, unit: str = UNIT) -> dict[str, list[str]]:
    return {"aws:PrincipalOrgPaths": [f"o-a1b2c3d4e5/r-ab12/{unit}/"]}


def test_an_account_of_the_organizations_unit_may_link_and_publish(
    org_central: dict[str, Any],
) -> None:
    sets = {**in_unit(OUTSIDER), "oam:ResourceTypes": SINK_TYPES}
    principal = orchestrator(OUTSIDER, ORG_REGION)
    sns_request = Request(principal, "sns:Publish", TOPIC_ARN, as_role(principal))

    assert ask(sink_policy(org_central), link(OUTSIDER), sets) == "Allow"
    assert ask(topic_policy(org_central), sns_request, sets) == "Allow"
    elsewhere = {**sets, **in_unit(OUTSIDER, "ou-zz99-99999999")}
    assert ask(sink_policy(org_central), link(OUTSIDER), elsewhere) != "Allow"
    assert ask(topic_policy(org_central), sns_request, elsewhere) != "Allow"
    assert ask(sink_policy(org_central), link(OUTSIDER), {"oam:ResourceTypes": SINK_TYPES}) != (
        "Allow"
    )
    # Another role of an account in the unit may not publish.
    developer = role(OUTSIDER, "Developer")
    other = Request(developer, "sns:Publish", TOPIC_ARN, as_role(developer))
    assert ask(topic_policy(org_central), other, sets) != "Allow"


def test_an_alarm_of_the_organizations_unit_may_publish(org_central: dict[str, Any]) -> None:
    # A service principal carries the account's organization path as aws:SourceOrgPaths.
    context = alarm(OUTSIDER, region=ORG_REGION)
    inside = {"aws:SourceOrgPaths": in_unit(OUTSIDER)["aws:PrincipalOrgPaths"]}
    outside = {"aws:SourceOrgPaths": in_unit(OUTSIDER, "ou-zz99-99999999")["aws:PrincipalOrgPaths"]}

    assert ask(topic_policy(org_central), publish(CLOUDWATCH, context), inside) == "Allow"
    assert ask(topic_policy(org_central), publish(CLOUDWATCH, context), outside) != "Allow"
    assert ask(topic_policy(org_central), publish(CLOUDWATCH, alarm(OUTSIDER)), inside) != "Allow"


# -- Dashboard and alarms -------------------------------------------------------------------


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    # The alarm status widget names the alarms by ARN: neutral ones, naming no member.
    alarms = {
        logical: f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{i}"
        for i, logical in enumerate(resources(template, "AWS::CloudWatch::Alarm"))
    }
    body = resolve(dashboard["Properties"]["DashboardBody"], alarms)
    widgets: list[dict[str, Any]] = json.loads(body)["widgets"]
    return widgets


def test_the_dashboard_has_one_full_row_per_member(central: dict[str, Any]) -> None:
    rows: dict[int, list[dict[str, Any]]] = {}
    for widget in dashboard_widgets(central):
        rows.setdefault(widget["y"], []).append(widget)
    by_member = {
        member: [y for y, row in rows.items() if member in json.dumps(row)] for member in MEMBERS
    }

    for member, [y] in by_member.items():
        row = rows[y]
        assert sum(w["width"] for w in row) == 24
        assert all(w["properties"]["title"].startswith(f"{member} {REGION}:") for w in row)
        text = json.dumps(row)
        for metric in ("NonCompliantServers", "BackupAgeHours", "BackupsFailed"):
            assert metric in text
        for metric in ("ManualBackupHeadroom", "RestoreDrillsFailed"):
            assert metric in text
        # Every metric of the row is read in the member's account.
        for widget in row:
            for line in widget["properties"]["metrics"]:
                assert line[-1]["accountId"] == member
        [age] = [w for w in row if "BackupAgeHours" in json.dumps(w)]
        [rpo] = age["properties"]["annotations"]["horizontal"]
        assert rpo["value"] == RPO_HOURS[member]
    # A row of its own each.
    assert len({y for [y] in by_member.values()}) == len(MEMBERS)


def alarms_of(template: dict[str, Any], member: str) -> dict[str, dict[str, Any]]:
    return {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        # The central stack's own alarm (on its undelivered alerts) has no member's name.
        if member in alarm["Properties"].get("AlarmName", "")
    }


@pytest.mark.parametrize("member", MEMBERS)
def test_each_member_has_central_alarms_on_its_own_metrics(
    central: dict[str, Any], member: str
) -> None:
    topic, _ = only(central, "AWS::SNS::Topic")
    alarms = alarms_of(central, member)

    assert {name.rsplit("-", 1)[-1] for name in alarms} == {
        "NonCompliantServers",
        "BackupsFailed",
        "BackupsFailedToStart",
    }
    for name, alarm in alarms.items():
        assert f"-{member}-{REGION}-" in name
        assert alarm["AlarmActions"] == [{"Ref": topic}]
        [metric] = alarm["Metrics"]
        assert metric["AccountId"] == member
        assert metric["MetricStat"]["Metric"]["Namespace"] == "OpsWorksCMBackup"
    [compliance] = [a for n, a in alarms.items() if n.endswith("NonCompliantServers")]
    assert compliance["Metrics"][0]["MetricStat"]["Stat"] == "Maximum"
    assert compliance["Metrics"][0]["MetricStat"]["Period"] == 3600
    assert compliance["Threshold"] == 1
    assert compliance["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# -- Linters --------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["Central", "CentralOrg"])
def test_cfn_lint_passes(central_app: App, stack: str) -> None:
    path = Path(central_app.outdir) / f"{stack}.template.json"

    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("pack", list(RulePack), ids=[pack.value for pack in RulePack])
def test_no_cdk_nag_finding(central_app: App, pack: RulePack) -> None:
    report = PACKS[pack][0]().validate_scope(central_app)

    assert [
        f"{violation.rule_name} on {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ] == []


def test_an_alert_the_central_topic_could_not_deliver_raises_an_alarm_without_action(
    central: dict[str, Any],
) -> None:
    queue, _ = only(central, "AWS::SQS::Queue", "Undelivered")
    [alarm] = [
        a["Properties"]
        for k, a in resources(central, "AWS::CloudWatch::Alarm").items()
        if k.startswith("AlertsUndelivered")
    ]

    # The subscriptions' dead letters, watched; notifying would go the way that failed
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}}
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1 and "AlarmActions" not in alarm
    # and shown on the central dashboard
    [dashboard] = resources(central, "AWS::CloudWatch::Dashboard").values()
    assert "AlertsUndelivered" in json.dumps(dashboard["Properties"]["DashboardBody"])
