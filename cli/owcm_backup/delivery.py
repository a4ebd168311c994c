"""Whether the alerts reach their subscribers: the state of the alarm on the alert topic's
dead-letter queue (stack output AlertDeliveryAlarmName), for `status`.

That alarm notifies nobody (the way it would is the way that failed), so `status` is one of the
two places it is seen; the dashboard is the other.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from backup_orchestrator.aws.errors import ERRORS
from owcm_backup import session

# The alarm's name: the stack output AlertDeliveryAlarmName.
ALARM_VARIABLE = "ALERT_DELIVERY_ALARM"


def alert_delivery(args: argparse.Namespace) -> dict[str, Any] | None:
    """The alarm's name, state, since when and why; None when ALERT_DELIVERY_ALARM is not set,
    or the alarm could not be read (a warning on standard error says why)."""
    name = os.environ.get(ALARM_VARIABLE)
    if not name:
        return None
    try:
        found = (
            session.session(args)
            .client("cloudwatch")
            .describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])["MetricAlarms"]
        )
    except ERRORS as exc:
        print(f"warning: the alert delivery alarm was not read: {exc}", file=sys.stderr)
        return None
    if not found:
        print(
            f"warning: no alarm named {name} ({ALARM_VARIABLE}: the stack output "
            "AlertDeliveryAlarmName)",
            file=sys.stderr,
        )
        return None
    [alarm] = found
    return {
        "alarmName": name,
        "state": alarm["StateValue"],
        "since": alarm["StateUpdatedTimestamp"].isoformat(),
        "reason": alarm.get("StateReason", ""),
    }


def delivery_line(delivery: dict[str, Any]) -> str:
    """The status line: the state, and for ALARM what it means and where the alerts are."""
    state = delivery["state"]
    if state != "ALARM":
        return f"Alert delivery: {state} (alarm {delivery['alarmName']})"
    return (
        f"Alert delivery: ALARM since {delivery['since'][:16].replace('T', ' ')} UTC: alerts could "
        "not be delivered to a subscription of the alert topic; they wait in the queue of stack "
        "output AlertDeadLettersUrl"
    )
