"""Resource policies as AWS evaluates them: who may publish to the alert topic and use its key,
who may use the log groups' key, and who may send to the alert topic's dead-letter queue.

A small evaluator of IAM policy statements (explicit Deny wins, then any Allow, else the
implicit deny) runs requests against the synthesized topic, key and queue policies, the way SNS,
KMS and SQS would when an alarm fires, a log event is written or an alert cannot be delivered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import pytest

from infra.constructs.log_groups import ENCRYPTION_CONTEXT
from local.cloud import ACCOUNT, REGION, resolve
from tests.support.stack import only, resources

OTHER_ACCOUNT = "210987654321"
CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass(frozen=True)
class Request:
    principal: dict[str, str]
    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _principal_matches(principal: Any, requester: dict[str, str]) -> bool:
    # In a resource policy `{"AWS": "*"}` is everyone, as `*` is (services included).
    if principal in ("*", {"AWS": "*"}):
        return True
    ((kind, name),) = requester.items()
    return any(p in ("*", name) for p in _listed(principal.get(kind, [])))


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    actual = {k.lower(): v for k, v in context.items()}.get(key.lower())
    if actual is None:
        return False  # no IfExists operators are used: a missing key fails the condition
    wanted = [str(v) for v in _listed(expected)]
    if operator in ("StringEquals", "ArnEquals"):
        return actual in wanted
    if operator in ("StringLike", "ArnLike"):
        return any(fnmatchcase(actual, pattern) for pattern in wanted)
    if operator == "Bool":
        return actual.lower() in (w.lower() for w in wanted)
    raise NotImplementedError(f"condition operator {operator}")


def _applies(statement: dict[str, Any], request: Request) -> bool:
    unsupported = {"NotPrincipal", "NotAction", "NotResource"} & statement.keys()
    if unsupported:
        raise NotImplementedError(f"policy elements {sorted(unsupported)}")
    return (
        _principal_matches(statement["Principal"], request.principal)
        and any(
            fnmatchcase(request.action.lower(), a.lower()) for a in _listed(statement["Action"])
        )
        and any(fnmatchcase(request.resource, r) for r in _listed(statement["Resource"]))
        and all(
            _condition_holds(operator, key, expected, request.context)
            for operator, block in statement.get("Condition", {}).items()
            for key, expected in block.items()
        )
    )


def decide(statements: Iterable[dict[str, Any]], request: Request) -> str:
    """'Deny' (an explicit deny applies), 'Allow' (an allow applies), or 'ImplicitDeny'."""
    effects = {s["Effect"] for s in statements if _applies(s, request)}
    if "Deny" in effects:
        return "Deny"
    return "Allow" if "Allow" in effects else "ImplicitDeny"


def alarm(account: str = ACCOUNT, region: str = REGION, *, tls: bool = True) -> dict[str, str]:
    """The request context of CloudWatch acting for an alarm of `account` in `region`."""
    return {
        "aws:SourceAccount": account,
        "aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:OpsWorksCMBackup-x",
        "aws:SecureTransport": str(tls).lower(),
    }


@pytest.fixture(scope="module")
def topic_policy(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    topic, _ = only(template_json, "AWS::SNS::Topic")
    _, policy = only(template_json, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic}]
    statements: list[dict[str, Any]] = resolve(
        policy["Properties"]["PolicyDocument"]["Statement"], {topic: TOPIC_ARN}
    )
    return statements


@pytest.fixture(scope="module")
def key_policy(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    key, resource = only(template_json, "AWS::KMS::Key", "AlertsKey")
    statements: list[dict[str, Any]] = resolve(
        resource["Properties"]["KeyPolicy"]["Statement"], {key: KEY_ARN}
    )
    return statements


def test_an_alarm_of_this_account_may_publish_to_the_topic(
    topic_policy: list[dict[str, Any]],
) -> None:
    request = Request(CLOUDWATCH, "SNS:Publish", TOPIC_ARN, alarm())

    assert decide(topic_policy, request) == "Allow"


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_an_alarm_of_this_account_may_use_the_topic_key(
    key_policy: list[dict[str, Any]], action: str
) -> None:
    assert decide(key_policy, Request(CLOUDWATCH, action, KEY_ARN, alarm())) == "Allow"


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(alarm(OTHER_ACCOUNT), id="another account's alarm"),
        pytest.param(alarm(region="eu-west-1"), id="an alarm in another region"),
        pytest.param({"aws:SecureTransport": "true"}, id="not on behalf of an alarm"),
    ],
)
def test_cloudwatch_acting_for_anything_else_may_not_publish_or_use_the_key(
    topic_policy: list[dict[str, Any]], key_policy: list[dict[str, Any]], context: dict[str, str]
) -> None:
    assert decide(topic_policy, Request(CLOUDWATCH, "sns:Publish", TOPIC_ARN, context)) != "Allow"
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        assert decide(key_policy, Request(CLOUDWATCH, action, KEY_ARN, context)) != "Allow"


@pytest.mark.parametrize(
    "principal",
    [CLOUDWATCH, {"AWS": f"arn:aws:iam::{ACCOUNT}:role/tracker"}],
    ids=["an alarm", "the tracker"],
)
def test_publishing_without_tls_is_denied_to_everyone(
    topic_policy: list[dict[str, Any]], principal: dict[str, str]
) -> None:
    request = Request(principal, "sns:Publish", TOPIC_ARN, alarm(tls=False))

    assert decide(topic_policy, request) == "Deny"


def test_no_other_service_may_publish(topic_policy: list[dict[str, Any]]) -> None:
    events = Request({"Service": "events.amazonaws.com"}, "sns:Publish", TOPIC_ARN, alarm())

    assert decide(topic_policy, events) == "ImplicitDeny"


def test_the_evaluator_lets_an_explicit_deny_win() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": "*"}
    deny = {**allow, "Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    request = Request(CLOUDWATCH, "sns:Publish", TOPIC_ARN, {"aws:SecureTransport": "false"})

    assert decide([allow], request) == "Allow"
    assert decide([allow, deny], request) == "Deny"
    assert decide([], request) == "ImplicitDeny"


LOGS = {"Service": f"logs.{REGION}.amazonaws.com"}
LOGS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/abcd1234-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def logs_key_policy(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    key, resource = only(template_json, "AWS::KMS::Key", "LogsKey")
    statements: list[dict[str, Any]] = resolve(
        resource["Properties"]["KeyPolicy"]["Statement"], {key: LOGS_KEY_ARN}
    )
    return statements


def log_group_names(template_json: dict[str, Any]) -> list[str]:
    """Each log group's name as deployed: its own, or the one CloudFormation gives it."""
    return [
        group["Properties"].get("LogGroupName", f"OpsWorksCMBackup-{logical}-1A2B3C4D5E6F")
        for logical, group in resources(template_json, "AWS::Logs::LogGroup").items()
    ]


def logs_request(action: str, group: str, principal: dict[str, str] = LOGS) -> Request:
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    return Request(principal, action, LOGS_KEY_ARN, {ENCRYPTION_CONTEXT: arn})


@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"])
def test_cloudwatch_logs_may_use_the_logs_key_for_each_of_the_stacks_log_groups(
    template_json: dict[str, Any], logs_key_policy: list[dict[str, Any]], action: str
) -> None:
    names = log_group_names(template_json)

    assert len(names) == 5
    for group in names:
        assert decide(logs_key_policy, logs_request(action, group)) == "Allow", group


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(logs_request("kms:Decrypt", "/aws/lambda/someone-else"), id="another group"),
        pytest.param(
            logs_request("kms:Decrypt", "OpsWorksCMBackup-SomethingElse-1A2B3C4D5E6F"),
            id="another group of the stack's name",
        ),
        pytest.param(
            logs_request(
                "kms:Decrypt",
                "/aws/vendedlogs/states/OpsWorksCMBackup-Tracker",
                {"Service": "logs.eu-west-1.amazonaws.com"},
            ),
            id="CloudWatch Logs of another region",
        ),
        pytest.param(Request(CLOUDWATCH, "kms:Decrypt", LOGS_KEY_ARN, alarm()), id="an alarm"),
    ],
)
def test_nothing_else_may_use_the_logs_key(
    logs_key_policy: list[dict[str, Any]], request_: Request
) -> None:
    assert decide(logs_key_policy, request_) == "ImplicitDeny"


SNS = {"Service": "sns.amazonaws.com"}
UNDELIVERED_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:undelivered-alerts"


@pytest.fixture(scope="module")
def undelivered_policy(template_json: dict[str, Any]) -> list[dict[str, Any]]:
    topic, _ = only(template_json, "AWS::SNS::Topic")
    queue, _ = only(template_json, "AWS::SQS::Queue", "AlertsUndelivered")
    _, policy = only(template_json, "AWS::SQS::QueuePolicy", "AlertsUndelivered")
    assert policy["Properties"]["Queues"] == [{"Ref": queue}]
    statements: list[dict[str, Any]] = resolve(
        policy["Properties"]["PolicyDocument"]["Statement"],
        {topic: TOPIC_ARN, f"{queue}.Arn": UNDELIVERED_ARN},
    )
    return statements


@pytest.mark.parametrize(
    ("source", "tls", "decision"),
    [
        (TOPIC_ARN, True, "Allow"),
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:another-topic", True, "ImplicitDeny"),
        (f"arn:aws:sns:{REGION}:{OTHER_ACCOUNT}:alerts", True, "ImplicitDeny"),
        (TOPIC_ARN, False, "Deny"),
    ],
)
def test_sns_may_send_undelivered_alerts_of_the_alert_topic_only(
    undelivered_policy: list[dict[str, Any]], source: str, tls: bool, decision: str
) -> None:
    context = {"aws:SourceArn": source, "aws:SecureTransport": str(tls).lower()}
    request = Request(SNS, "sqs:SendMessage", UNDELIVERED_ARN, context)

    assert decide(undelivered_policy, request) == decision
