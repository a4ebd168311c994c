"""The estate's context keys, validated: an error names the entry and the key it is about, a
valid estate parses, and a deployment's own keys override the context for it alone."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError
from infra.config.estate import (
    estate_from_context,
    orchestrator_role_arn,
    read_only_role_arn,
    stack_name,
)

A, B, MONITORING = "111111111111", "222222222222", "999999999999"
SINK = f"arn:aws:oam:eu-west-1:{MONITORING}:sink/1a2b3c4d-0000-1111-2222-333344445555"
OU = {"ids": ["ou-ab12-cdef3456"], "regions": ["eu-west-1"], "assetBucketPrefix": "acme-owcm"}


def two(**second: Any) -> list[dict[str, Any]]:
    return [
        {"account": A, "region": "eu-west-1"},
        {"account": B, "region": "us-east-1", **second},
    ]


@pytest.mark.parametrize(
    ("context", "named"),
    [
        pytest.param(
            {"deployments": two(maxServers="many")}, "deployments[1].maxServers", id="key"
        ),
        pytest.param(
            {"deployments": two(selectTagg="x")}, "'deployments[1].selectTagg'", id="typo"
        ),
        pytest.param(
            {"deployments": [{"account": "1234", "region": "eu-west-1"}]},
            "deployments[0].account",
            id="account",
        ),
        pytest.param(
            {"deployments": [{"account": A, "region": "Ireland"}]},
            "deployments[0].region",
            id="region",
        ),
        pytest.param(
            {"deployments": [*two(), {"account": A, "region": "eu-west-1"}]},
            "deployments[2]: 111111111111/eu-west-1 is already deployments[0]",
            id="duplicate account-region",
        ),
        pytest.param(
            {"deployments": two(monitoringAccount=MONITORING)},
            "deployments[1].monitoringAccount",
            id="estate key in a deployment",
        ),
        pytest.param(
            {"organizationUnits": {**OU, "ids": ["ou-ab12-cdef3456", "finance"]}},
            "organizationUnits.ids[1]",
            id="OU",
        ),
        pytest.param(
            {"organizationUnits": {**OU, "regions": ["eu-west-1", "mars-1"]}},
            "organizationUnits.regions[1]",
            id="OU region",
        ),
        pytest.param(
            {"organizationUnits": {**OU, "deployFrom": "root"}},
            "organizationUnits.deployFrom",
            id="OU deployed from",
        ),
        pytest.param(
            {"deployments": two(), "monitoringAccount": "me"}, "monitoringAccount", id="monitoring"
        ),
        pytest.param(
            {
                "deployments": two(),
                "monitoringAccount": MONITORING,
                "monitoringSinks": {"eu-west-1": "sink-1"},
            },
            "monitoringSinks.eu-west-1",
            id="sink",
        ),
        pytest.param(
            {
                "deployments": two(),
                "monitoringAccount": MONITORING,
                "monitoringSinks": {"eu-west-1": SINK.replace(MONITORING, A)},
            },
            "monitoringSinks.eu-west-1",
            id="sink of another account",
        ),
        pytest.param(
            {
                "deployments": two(),
                "monitoringAccount": MONITORING,
                "monitoringSinks": {"us-east-1": SINK},
            },
            "monitoringSinks.us-east-1",
            id="sink of another region",
        ),
        pytest.param(
            {"deployments": two(), "monitoringSinks": {"eu-west-1": SINK}},
            "monitoringSinks",
            id="sinks without monitoring account",
        ),
    ],
)
def test_an_error_names_the_entry_and_its_key(context: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        estate_from_context(context)

    assert named in str(raised.value)


def test_a_valid_estate_parses() -> None:
    estate = estate_from_context(
        {
            "deployments": two(),
            "monitoringAccount": MONITORING,
            "monitoringSinks": {"eu-west-1": SINK},
            "organizationUnits": {**OU, "regions": ["eu-west-1", "ap-south-1"]},
        }
    )

    assert not estate.single
    assert [(d.account, d.region) for d in estate.deployments] == [
        (A, "eu-west-1"),
        (B, "us-east-1"),
    ]
    assert estate.monitoring_account == MONITORING
    assert estate.sinks == {"eu-west-1": SINK}
    assert estate.regions == ("eu-west-1", "us-east-1", "ap-south-1")
    assert estate.organization is not None
    assert estate.organization.units == ("ou-ab12-cdef3456",)
    assert estate.deployments[0].stack_name == stack_name(A, "eu-west-1")
    assert read_only_role_arn(A, "eu-west-1").endswith(":role/OpsWorksCMBackupReadOnly-eu-west-1")
    assert orchestrator_role_arn(A, "eu-west-1") == (
        f"arn:aws:iam::{A}:role/OpsWorksCMBackupOrchestrator-eu-west-1"
    )


def test_the_cli_passes_the_keys_as_json_text() -> None:
    estate = estate_from_context(
        {
            "deployments": '[{"account": "111111111111", "region": "eu-west-1"}]',
            "monitoringAccount": MONITORING,
            "monitoringSinks": '{"eu-west-1": "' + SINK + '"}',
        }
    )

    assert estate.sinks == {"eu-west-1": SINK}


def test_no_estate_key_is_the_single_stack() -> None:
    estate = estate_from_context({"maxServers": 9})

    assert estate.single
    assert estate.base.max_servers == 9


def test_a_deployments_keys_override_the_context_for_it_alone() -> None:
    estate = estate_from_context(
        {"maxServers": 9, "selectTag": "backup=yes", "deployments": two(maxServers=3, retain=2)}
    )
    first, second = estate.deployments

    assert (first.config.max_servers, second.config.max_servers) == (9, 3)
    assert first.config.retain != 2
    assert second.config.retain == 2
    assert first.config.select_tag == second.config.select_tag == "backup=yes"
    assert estate.base.max_servers == 9
