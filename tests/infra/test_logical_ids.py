"""A guard on what holds state: its logical IDs, and what CloudFormation does with it on delete
and on replacement.

CloudFormation knows a resource by its logical ID. A deploy whose template no longer has an ID
deletes that resource and creates the one under the new ID: renaming or moving a construct (a
new construct id, a new parent) replaces the resource. For the tables that loses their items
(a slot's claim, the servers' history and last drills), for the key and the topic their policies
and subscriptions, for the queue its dead letters, for the log groups their logs. So each ID here
must stay as it is, and a change to one must be a decision made with a migration, not a slip.

The deletion and update-replace policies are pinned too, exactly as the template has them today:
a change to what happens to data when the stack or a resource goes must also be a decision.
"""

from __future__ import annotations

from typing import Any

import pytest

# Every stateful resource, by the logical ID deployed stacks know it by: its type, and its
# DeletionPolicy and UpdateReplacePolicy (None: not set, CloudFormation's default, Delete).
STATEFUL: dict[str, tuple[str, str | None, str | None]] = {
    "AlertsKey9E1197AF": ("AWS::KMS::Key", "Delete", "Delete"),
    "AlertsTopicCF7C81C9": ("AWS::SNS::Topic", None, None),
    "DeadLettersBBF8BAAB": ("AWS::SQS::Queue", "Delete", "Delete"),
    # What the topic could not deliver, and the key of every log group.
    "AlertsUndelivered89951F36": ("AWS::SQS::Queue", "Delete", "Delete"),
    "LogsKeyB5D1D597": ("AWS::KMS::Key", "Delete", "Delete"),
    "IdempotencyC15CBC33": ("AWS::DynamoDB::GlobalTable", "Delete", "Delete"),
    "HistoryC127576E": ("AWS::DynamoDB::GlobalTable", "Delete", "Delete"),
    "TrackerLogs6F324061": ("AWS::Logs::LogGroup", "Delete", "Delete"),
    "DrillLogs1D13E7D5": ("AWS::Logs::LogGroup", "Delete", "Delete"),
    "OrchestratorLogsDA257AF9": ("AWS::Logs::LogGroup", "Delete", "Delete"),
    # The logs of the functions the state machines call OpsWorks CM through.
    "TrackerPollerLogsDE46E671": ("AWS::Logs::LogGroup", "Delete", "Delete"),
    "DrillCallsLogsB4095326": ("AWS::Logs::LogGroup", "Delete", "Delete"),
}
STATEFUL_TYPES = {kind for kind, _, _ in STATEFUL.values()}


@pytest.mark.parametrize("logical", sorted(STATEFUL))
def test_a_stateful_resource_keeps_its_logical_id_and_type(
    template_json: dict[str, Any], logical: str
) -> None:
    kind, _, _ = STATEFUL[logical]

    assert logical in template_json["Resources"], f"{logical} ({kind}) is gone or was renamed"
    assert template_json["Resources"][logical]["Type"] == kind


def test_every_stateful_resource_is_one_of_those_known(template_json: dict[str, Any]) -> None:
    # A new table, key, queue, topic or log group must be added here, and so pinned.
    found = {
        logical
        for logical, resource in template_json["Resources"].items()
        if resource["Type"] in STATEFUL_TYPES
    }

    assert found == set(STATEFUL)


@pytest.mark.parametrize("logical", sorted(STATEFUL))
def test_a_stateful_resource_keeps_its_deletion_and_replacement_policies(
    template_json: dict[str, Any], logical: str
) -> None:
    _, deletion, update_replace = STATEFUL[logical]
    resource = template_json["Resources"][logical]

    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == (
        deletion,
        update_replace,
    )
