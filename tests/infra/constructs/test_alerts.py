"""The alert topic alone: encrypted with its own rotating key, open to this account's alarms
only, and mailing an address only when one is given."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk.assertions import Match, Template

from infra.constructs.alerts import AlertTopic


def test_the_topic_is_encrypted_with_its_own_rotating_key(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email=None)
    template = Template.from_stack(stack)

    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^AlertsKey"), "Arn"]}},
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_only_this_accounts_alarms_may_publish(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email=None)
    template = Template.from_stack(stack)

    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AlarmsOfThisAccountPublish",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {
                                        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
                                    },
                                    "ArnLike": {"aws:SourceArn": Match.any_value()},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_an_address_is_subscribed_by_email(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email="ops@example.com")

    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )
