"""Settings from environment variables: defaults, and errors that name the variable."""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo

import pytest

from backup_orchestrator.contract.settings import SettingsError, parse_settings
from backup_orchestrator.domain.records import PruneScope
from backup_orchestrator.domain.tiers import Retention

MODELS = os.environ["AWS_DATA_PATH"]


def test_defaults() -> None:
    settings = parse_settings({"AWS_DATA_PATH": MODELS})

    assert settings.select_tag == ("opsworks-cm-backup", "enabled")
    assert (settings.tiers, settings.prune_scope) == (Retention(daily=7), PruneScope.OWN)
    assert settings.zone == ZoneInfo("UTC")
    assert (settings.poll_seconds, settings.deadline_seconds) == (60, 10_800)
    assert settings.tracker_state_machine_arn is None


def test_every_variable_is_read() -> None:
    settings = parse_settings(
        {
            "AWS_DATA_PATH": f"/nowhere{os.pathsep}{MODELS}",
            "SELECT_TAG": " backup = nightly ",
            "RETENTION": "daily:3 weekly:2 monthly:1",
            "TIME_ZONE": "Pacific/Auckland",
            "PRUNE_SCOPE": "all-manual",
            "TRACKER_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:t",
            "IDEMPOTENCY_TABLE": "runs",
            "POLL_SECONDS": "30",
            "DEADLINE_SECONDS": "3600",
            "OPSWORKSCM_RATE": "2.5",
        }
    )

    assert settings.select_tag == ("backup", "nightly")
    assert (settings.tiers, settings.prune_scope) == (Retention(3, 2, 1), PruneScope.ALL_MANUAL)
    assert settings.zone == ZoneInfo("Pacific/Auckland")
    assert (settings.poll_seconds, settings.deadline_seconds) == (30, 3600)
    assert settings.opsworkscm_rate == 2.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SELECT_TAG", "enabled"),
        ("SELECT_TAG", "=x"),
        ("RETENTION", "daily:0"),
        ("RETENTION", "daily:30 weekly:20"),
        ("RETENTION", "seven"),
        ("RETENTION", "daily:3,weekly:2"),
        ("RETENTION", "weekly:2"),
        ("TIME_ZONE", "Mars/Olympus_Mons"),
        ("TIME_ZONE", "../etc/passwd"),
        ("PRUNE_SCOPE", "everything"),
        ("TRACKER_STATE_MACHINE_ARN", "my-machine"),
        ("POLL_SECONDS", "0"),
        ("DEADLINE_SECONDS", "10"),
        ("AWS_DATA_PATH", "/nowhere"),
        ("OPSWORKSCM_RATE", "0"),
        ("OPSWORKSCM_RATE", "fast"),
        ("RESTORE_DRILL", "daily"),
        ("DRILL_STATE_MACHINE_ARN", "drill"),
        ("DRILL_DEADLINE_SECONDS", "5"),
        ("DRILL_SERVICE_ROLE_ARN", "aws-opsworks-cm-service-role"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        parse_settings({"AWS_DATA_PATH": MODELS, name: value})

    assert f"{name}={value!r}" in str(excinfo.value)


def test_missing_model_path_is_explained() -> None:
    with pytest.raises(SettingsError, match=r"AWS_DATA_PATH.*lambda/models"):
        parse_settings({})
