"""The embedded local cloud of an estate: the synthesized estate's member stacks, one per
account-region, in moto, and the monitoring account's central alert topic per region, inside
one `moto.mock_aws`.

`synthesize_estate` synthesizes the app with the estate's keys (`deployments`,
`monitoringAccount`) and returns each member's and each central stack's template.
`LocalEstate.create` stands up, for each deployment, a `LocalCloud` of its member template in
its own account and region (moto files resources under the account of the credentials that make
them: each deployment's are made with an assumed role of its account), the member stack's
read-only role with its synthesized trust policy, and, in the monitoring account, the central
topic of each region (named as its central stack names it) with an inbox queue subscribed. Each
member function's environment is its template's, CENTRAL_ALERT_TOPIC_ARN included; the central
stack's alarms are given, resolved, by `central_alarm` (local/alarms.py plays them).

What moto does not play, and this module does:
- moto's STS AssumeRole takes any role ARN, existing or not, and reads no trust policy.
  `TrustChecks` (installed by `create`) plays IAM's check: AssumeRole of a role that does not
  exist, or whose trust policy does not name the caller's account, is refused AccessDenied.
- moto's SNS publishes to a topic of another account by its ARN (it finds the topic by the
  ARN's account) without reading the topic's policy: a member's publish to the central topic
  reaches it as the policy the central stack gives would let it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from infra.config.estate import (
    CENTRAL_STACK_NAME,
    CENTRAL_TOPIC,
    STACK_NAME,
    read_only_role_arn,
    read_only_role_name,
)
from local.cloud import LocalCloud, pseudo_parameters, resolve, synthesized_app
from local.emulator.inprocess import RawBody
from local.hooks import BuiltinHook
from local.runtime import LocalLambdaContext

MONITORING_ACCOUNT = "999999999999"
# The role each account's local credentials come from (moto makes keys of its account for it).
LOCAL_ROLE = "OpsWorksCMBackupLocal"
TRUST_EVENT = "before-call.sts.AssumeRole"
LOCAL_SINK_ID = "00000000-0000-4000-8000-000000000000"


def credentials(account: str) -> dict[str, Any]:
    """Credentials of `account` in moto: an assumed role's (call inside `mock_aws`)."""
    sts = boto3.client("sts", region_name="us-east-1")
    given = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{LOCAL_ROLE}", RoleSessionName="local"
    )["Credentials"]
    return {
        "aws_access_key_id": given["AccessKeyId"],
        "aws_secret_access_key": given["SecretAccessKey"],
        "aws_session_token": given["SessionToken"],
    }


def session_of(account: str, region: str) -> boto3.session.Session:
    """A boto3 session with credentials of `account`, in `region`."""
    return boto3.session.Session(region_name=region, **credentials(account))


@dataclass(frozen=True)
class EstateTemplates:
    """The synthesized estate: each deployment's member stack, each region's central stack."""

    members: dict[tuple[str, str], dict[str, Any]]
    central: dict[str, dict[str, Any]]


def local_sink_arn(monitoring_account: str, region: str) -> str:
    """The sink of the central stack of `region` on the local cloud (moto has no OAM: the ARN
    only has to be well formed for the members' links)."""
    return f"arn:aws:oam:{region}:{monitoring_account}:sink/{LOCAL_SINK_ID}"


def synthesize_estate(
    deployments: Sequence[tuple[str, str]],
    monitoring_account: str = MONITORING_ACCOUNT,
    outdir: Path | None = None,
) -> EstateTemplates:
    """Synthesize the app with `deployments` and the monitoring account (cdk-nag checks every
    stack) and read each stack's template from its stage's assembly."""
    regions = dict.fromkeys(region for _, region in deployments)
    context = {
        "deployments": [{"account": a, "region": r} for a, r in deployments],
        "monitoringAccount": monitoring_account,
        # The central stacks "deployed" first, as docs/estate.md orders it: each region's sink.
        "monitoringSinks": {r: local_sink_arn(monitoring_account, r) for r in regions},
    }
    target = outdir or Path(tempfile.mkdtemp(prefix="cdk-out-estate-"))
    synthesized_app(context, target)
    members: dict[tuple[str, str], dict[str, Any]] = {}
    central: dict[str, dict[str, Any]] = {}
    for manifest in sorted(target.glob("assembly-*/manifest.json")):
        for artifact in json.loads(manifest.read_text())["artifacts"].values():
            if artifact["type"] != "aws:cloudformation:stack":
                continue
            account, region = artifact["environment"].removeprefix("aws://").split("/")
            template = json.loads(
                (manifest.parent / artifact["properties"]["templateFile"]).read_text()
            )
            if artifact["properties"]["stackName"].startswith(CENTRAL_STACK_NAME):
                central[region] = template
            elif artifact["properties"]["stackName"].startswith(STACK_NAME):
                members[account, region] = template
    return EstateTemplates(members, central)


@contextmanager
def as_account(account: str, variables: Mapping[str, str] | None = None) -> Iterator[None]:
    """Inside: this process holds `account`'s credentials in its environment (as an operator's
    shell, or a function, does), and `variables` too; all restored after."""
    given = credentials(account)
    update = {
        "AWS_ACCESS_KEY_ID": given["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": given["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": given["aws_session_token"],
        **(variables or {}),
    }
    saved = {name: os.environ.get(name) for name in update}
    os.environ.update(update)
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None


class TrustChecks(BuiltinHook):
    """While installed, STS AssumeRole is refused AccessDenied, as IAM refuses it, when the
    role does not exist or its trust policy does not name the caller's account (moto assumes
    any ARN). Roles named LOCAL_ROLE (this module's own way to an account) are let through."""

    def __init__(self) -> None:
        super().__init__(TRUST_EVENT, self._before_call)

    def _before_call(
        self, params: Mapping[str, Any], request_signer: Any = None, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        # The request as serialized: AssumeRole's parameters are its form body.
        body = params.get("body")
        arn = str(body.get("RoleArn", "")) if isinstance(body, Mapping) else ""
        account, name = arn.split(":")[4], arn.rsplit("/", 1)[-1]
        if name == LOCAL_ROLE:
            return None
        caller = self._caller_account(request_signer)
        iam = session_of(account, "us-east-1").client("iam")
        try:
            trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        except iam.exceptions.NoSuchEntityException:
            return _denied(caller, arn, "the role does not exist")
        document = json.loads(trust) if isinstance(trust, str) else trust
        if caller not in _trusted_accounts(document):
            return _denied(caller, arn, "the role's trust policy does not name the caller")
        return None

    @staticmethod
    def _caller_account(request_signer: Any) -> str:
        frozen = request_signer._credentials.get_frozen_credentials()
        sts = boto3.client(
            "sts",
            region_name="us-east-1",
            aws_access_key_id=frozen.access_key,
            aws_secret_access_key=frozen.secret_key,
            aws_session_token=frozen.token,
        )
        return str(sts.get_caller_identity()["Account"])


def add_read_only_role(account: str, region: str, monitoring_account: str) -> str:
    """A read-only role of `region` in `account` trusting `monitoring_account` (call inside
    `mock_aws`), shaped as the member stack's: for tests of the CLI without a synthesized
    stack. Its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{monitoring_account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return _create_role(account, region, read_only_role_name(region), trust)


def _create_role(account: str, region: str, name: str, trust: Mapping[str, Any]) -> str:
    iam = session_of(account, region).client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def _template_role(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The properties of the role named `name` in `template`."""
    role: dict[str, Any]
    [role] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == name
    ]
    return role


def _trusted_accounts(document: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        principals = statement.get("Principal", {}).get("AWS", [])
        for principal in [principals] if isinstance(principals, str) else principals:
            found.add(principal.split(":")[4] if principal.startswith("arn:") else principal)
    return found


def _denied(caller: str, arn: str, why: str) -> tuple[AWSResponse, dict[str, Any]]:
    message = (
        f"User: arn:aws:sts::{caller}:assumed-role/{LOCAL_ROLE}/local is not authorized to "
        f"perform: sts:AssumeRole on resource: {arn} ({why})"
    )
    parsed = {
        "Error": {"Code": "AccessDenied", "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": 403, "HTTPHeaders": {}},
    }
    return AWSResponse(arn, 403, HTTPHeaders(), RawBody(b"")), parsed


@dataclass
class LocalEstate:
    """The estate's member stacks (one `LocalCloud` per (account, region) of `deployments`) and
    the monitoring account's central topics, in moto (call `create` inside `mock_aws`)."""

    templates: EstateTemplates
    deployments: Sequence[tuple[str, str]]
    monitoring_account: str = MONITORING_ACCOUNT
    clouds: dict[tuple[str, str], LocalCloud] = field(default_factory=dict)
    central_topics: dict[str, str] = field(default_factory=dict)
    central_inboxes: dict[str, str] = field(default_factory=dict)
    trust: TrustChecks = field(default_factory=TrustChecks)
    _central_physical: dict[str, dict[str, str]] = field(default_factory=dict)

    def create(self, machines: Sequence[str] = ("Tracker",)) -> LocalEstate:
        self.trust.install()
        for region in dict.fromkeys(region for _, region in self.deployments):
            self._central(region)
        for account, region in self.deployments:
            session = session_of(account, region)
            template = self.templates.members[account, region]
            cloud = LocalCloud(template, account=account, region=region, session=session)
            self.clouds[account, region] = cloud.create(machines)
            # The member stack's read-only role, its trust as synthesized.
            name = read_only_role_name(region)
            trust = _template_role(template, name)["AssumeRolePolicyDocument"]
            _create_role(account, region, name, resolve(trust, {}, cloud.pseudo))
        return self

    def _central(self, region: str) -> None:
        """The central topic of `region` in the monitoring account, as its central stack names
        it, and its inbox."""
        session = session_of(self.monitoring_account, region)
        sns, sqs = session.client("sns"), session.client("sqs")
        [(logical, topic)] = [
            (k, r)
            for k, r in self.templates.central[region]["Resources"].items()
            if r["Type"] == "AWS::SNS::Topic"
        ]
        arn = sns.create_topic(Name=topic["Properties"]["TopicName"])["TopicArn"]
        inbox = sqs.create_queue(QueueName=f"{CENTRAL_TOPIC}-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
        self.central_topics[region], self.central_inboxes[region] = arn, inbox
        self._central_physical[region] = {logical: arn}

    def central_alarm(self, account: str, region: str, metric: str) -> dict[str, Any]:
        """The central stack's alarm on `metric` of member (`account`, `region`), as
        synthesized, its references resolved (its action: the central topic)."""
        name = f"{CENTRAL_STACK_NAME}-{account}-{region}-{metric}"
        [alarm] = [
            r
            for r in self.templates.central[region]["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("AlarmName") == name
        ]
        pseudo = pseudo_parameters(self.monitoring_account, region)
        resolved: dict[str, Any] = resolve(alarm, self._central_physical[region], pseudo)
        return resolved

    def close(self) -> None:
        for cloud in self.clouds.values():
            cloud.close()
        self.trust.uninstall()

    def read_only_role_arn(self, account: str, region: str) -> str:
        return read_only_role_arn(account, region)

    def function_environment(self, account: str, region: str) -> dict[str, str]:
        """The member function's environment as synthesized (CENTRAL_ALERT_TOPIC_ARN: the
        central topic of its region)."""
        return self.clouds[account, region].function_environment()

    @contextmanager
    def member(self, account: str, region: str) -> Iterator[LocalLambdaContext]:
        """Inside: this process is the member function of (`account`, `region`): its
        credentials, region and environment (restored after); yields its Lambda context."""
        from backup_orchestrator.contract.settings import get_settings

        variables = {**self.function_environment(account, region), "AWS_DEFAULT_REGION": region}
        get_settings.cache_clear()
        try:
            with as_account(account, variables):
                yield LocalLambdaContext(
                    invoked_function_arn=(
                        f"arn:aws:lambda:{region}:{account}:function:"
                        "opsworks-cm-backup-orchestrator"
                    )
                )
        finally:
            get_settings.cache_clear()

    def central_alerts(self, region: str) -> list[dict[str, str]]:
        """The alerts the central topic of `region` got since the last look."""
        sqs = session_of(self.monitoring_account, region).client("sqs")
        answer = sqs.receive_message(QueueUrl=self.central_inboxes[region], MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        return [
            {
                "subject": b.get("Subject", ""),
                "message": b.get("Message", ""),
                "topic": b["TopicArn"],
            }
            for b in bodies
        ]
