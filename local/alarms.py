"""Play a CloudWatch alarm of a synthesized template, which moto keeps but never evaluates.

`evaluate` takes an `AWS::CloudWatch::Alarm` resource (its references already resolved: the
alarm actions are topic ARNs) and the datapoint its metric carries for the period (for the
NonCompliantServers alarm: the run report's count of servers outside their RPO, what the
function's metric says), and does what CloudWatch would: records the datapoint, compares it
with the threshold by the alarm's operator, sets the alarm's state in moto's CloudWatch
(put_metric_alarm, then set_alarm_state) and, when the state changed, publishes the alarm's
notification to the actions of the new state (AlarmActions for ALARM, OKActions for OK), in the
JSON CloudWatch sends to SNS.

Honest limits: one datapoint stands for every evaluation period (the alarms this is for have
one), and missing data is not played (a run always carries the metric).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
ACTIONS = {
    "ALARM": "AlarmActions",
    "OK": "OKActions",
    "INSUFFICIENT_DATA": "InsufficientDataActions",
}


@dataclass(frozen=True)
class Evaluated:
    """What one evaluation did: the alarm's state before and after, and the notifications it
    published (topic ARN, message id)."""

    name: str
    old_state: str
    new_state: str
    notified: tuple[tuple[str, str], ...]


def _metric(props: Mapping[str, Any]) -> tuple[str, str, list[dict[str, str]], str | None]:
    """The alarm's metric: its name, namespace, dimensions and account (of its one metric
    when it is given as Metrics, the form of a cross-account alarm; None: the alarm's own)."""
    if "MetricName" in props:
        dimensions = list(props.get("Dimensions", []))
        return props["MetricName"], props["Namespace"], dimensions, None
    [query] = [m for m in props["Metrics"] if "MetricStat" in m]
    metric = query["MetricStat"]["Metric"]
    dimensions = list(metric.get("Dimensions", []))
    return metric["MetricName"], metric["Namespace"], dimensions, query.get("AccountId")


def evaluate(
    resource: Mapping[str, Any],
    datapoint: float,
    *,
    name: str,
    account: str,
    region: str,
    session: boto3.session.Session | None = None,
) -> Evaluated:
    """Evaluate `resource` (an AWS::CloudWatch::Alarm, or its Properties) against `datapoint`
    in `account` and `region` (`session`: credentials of `account`). Raises KeyError naming a
    property the alarm lacks, ValueError for an operator CloudWatch does not have."""
    props = resource.get("Properties", resource)
    compare = COMPARISONS.get(props["ComparisonOperator"])
    if compare is None:
        raise ValueError(f"ComparisonOperator {props['ComparisonOperator']!r} is not played")
    factory: Any = session or boto3
    cloudwatch = factory.client("cloudwatch", region_name=region)
    metric_name, namespace, dimensions, source = _metric(props)
    alarm_name = props.get("AlarmName") or name
    if source in (None, account):
        # The datapoint, where CloudWatch would hold it (another account's is that account's).
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[{"MetricName": metric_name, "Dimensions": dimensions, "Value": datapoint}],
        )
    old = cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
    old_state = old[0]["StateValue"] if old else "INSUFFICIENT_DATA"
    fields: dict[str, Any] = {
        k: props[k] for k in ("OKActions", "InsufficientDataActions") if k in props
    }
    if "Metrics" in props:
        fields["Metrics"] = props["Metrics"]
    else:
        fields.update(
            MetricName=metric_name,
            Namespace=namespace,
            Dimensions=dimensions,
            Statistic=props.get("Statistic", "Maximum"),
            Period=int(props.get("Period", 300)),
        )
    cloudwatch.put_metric_alarm(
        AlarmName=alarm_name,
        AlarmDescription=props.get("AlarmDescription", ""),
        EvaluationPeriods=int(props.get("EvaluationPeriods", 1)),
        Threshold=float(props["Threshold"]),
        ComparisonOperator=props["ComparisonOperator"],
        AlarmActions=list(props.get("AlarmActions", [])),
        **fields,
    )
    threshold = float(props["Threshold"])
    new_state = "ALARM" if compare(datapoint, threshold) else "OK"
    reason = (
        f"Threshold Crossed: 1 datapoint [{datapoint}] was "
        f"{'' if new_state == 'ALARM' else 'not '}{props['ComparisonOperator']} {threshold}."
    )
    # put_metric_alarm left it in INSUFFICIENT_DATA: set it to what the datapoint says.
    cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue=new_state, StateReason=reason)
    notified: list[tuple[str, str]] = []
    if new_state != old_state:
        message = {
            "AlarmName": alarm_name,
            "AlarmDescription": props.get("AlarmDescription", ""),
            "AWSAccountId": account,
            "NewStateValue": new_state,
            "NewStateReason": reason,
            "StateChangeTime": datetime.now(UTC).isoformat(),
            "Region": region,
            "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}",
            "OldStateValue": old_state,
            "Trigger": {
                "AccountId": source or account,
                "MetricName": metric_name,
                "Namespace": namespace,
                "Statistic": str(props.get("Statistic", "Maximum")).upper(),
                "Dimensions": [{"name": d["Name"], "value": d["Value"]} for d in dimensions],
                "ComparisonOperator": props["ComparisonOperator"],
                "Threshold": threshold,
            },
        }
        sns = factory.client("sns", region_name=region)
        for topic in props.get(ACTIONS[new_state], []):
            answer = sns.publish(
                TopicArn=topic,
                Subject=f'{new_state}: "{alarm_name}" in {region}'[:100],
                Message=json.dumps(message),
            )
            notified.append((topic, answer["MessageId"]))
    return Evaluated(alarm_name, old_state, new_state, tuple(notified))
