# mypy: disable-error-code="attr-defined, arg-type"
"""The OpsWorks CM client: botocore's retries off (the adapter retries), every attempt paced,
and a plain word when botocore lacks the service's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, UnknownServiceError

from backup_orchestrator.aws.clients import SERVICE_BURST, opsworkscm_client, service_pace
from backup_orchestrator.aws.pacing import TokenBucket
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ThrottlingException


class FakeTime:
    """A monotonic clock that only moves when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def throttled(times: int) -> Any:
    """A fault: the first `times` calls are throttled."""
    answered = 0

    def fault(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal answered
        answered += 1
        return ThrottlingException("Rate exceeded") if answered <= times else None

    return fault


def retry_at_once(response: Any, attempts: int, **_: Any) -> int | None:
    """Retry a refused attempt with no backoff (up to 4 attempts), so the only waits are the
    pacer's; leave anything else to botocore."""
    refused = response is not None and "Error" in response[1]
    return 0 if refused and attempts < 4 else None


def test_a_throttled_call_is_not_retried_by_botocore(emulator: Emulator) -> None:
    # Given the service throttles one call
    emulator.faults.append(throttled(1))
    client = opsworkscm_client()

    # When a call is made with the client as the function builds it
    with pytest.raises(ClientError, match="ThrottlingException"):
        client.describe_servers()

    # Then the refusal comes back at once: one attempt, none made behind the adapter's back
    assert len(emulator.calls) == 1


def test_a_config_given_replaces_the_default(emulator: Emulator) -> None:
    emulator.faults.append(throttled(1))
    client = opsworkscm_client(config=Config(retries={"mode": "standard", "max_attempts": 2}))

    assert client.describe_servers()["Servers"] == []
    assert [c.error for c in emulator.calls] == ["ThrottlingException", None]


def test_a_hung_connection_is_given_up_rather_than_waited_on() -> None:
    config = opsworkscm_client().meta.config

    assert (config.connect_timeout, config.read_timeout) == (5, 30)
    assert config.max_pool_connections >= 16


def test_paced_calls_reach_the_service_no_faster_than_the_pace(emulator: Emulator) -> None:
    # Given a service that allows one request a second, and a client paced the same, on one
    # clock that moves only when the pacer waits
    time = FakeTime()
    emulator.bucket = TokenBucket(1, 1, monotonic=lambda: time.now, sleep=time.sleep)
    pace = TokenBucket(1, 1, monotonic=lambda: time.now, sleep=time.sleep)
    client = opsworkscm_client(pace=pace)

    # When calls are made as fast as they can be
    for _ in range(4):
        client.describe_servers()

    # Then the pacer waited before each was sent, and the service throttled none
    assert [c.error for c in emulator.calls] == [None] * 4
    assert time.slept == [1.0, 1.0, 1.0]


def test_retried_attempts_are_paced_too(emulator: Emulator) -> None:
    emulator.faults.append(throttled(3))
    time = FakeTime()
    pace = TokenBucket(1, 1, monotonic=lambda: time.now, sleep=time.sleep)
    retrying = Config(retries={"mode": "standard", "max_attempts": 4})
    client = opsworkscm_client(config=retrying, pace=pace)
    client.meta.events.register_first("needs-retry.opsworkscm", retry_at_once)

    client.describe_servers()

    assert len(emulator.calls) == 4
    assert time.slept == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(("rate", "expected"), [(None, 5.0), (2.5, 2.5)])
def test_the_service_pace_allows_the_services_burst_then_its_rate(
    rate: float | None, expected: float
) -> None:
    pace = service_pace() if rate is None else service_pace(rate)

    taken = [pace.try_acquire() for _ in range(SERVICE_BURST + 1)]

    assert pace.rate == expected
    assert taken == [True] * SERVICE_BURST + [False]


def test_the_clients_settings_go_to_botocore() -> None:
    session = boto3.session.Session(region_name="eu-west-1")

    from_session = opsworkscm_client(session)
    elsewhere = opsworkscm_client(region_name="ap-southeast-2", endpoint_url="http://localhost:1")

    assert from_session.meta.region_name == "eu-west-1"
    assert (elsewhere.meta.region_name, elsewhere.meta.endpoint_url) == (
        "ap-southeast-2",
        "http://localhost:1",
    )


def test_without_the_carried_model_the_error_says_where_to_point_botocore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a session whose data path holds no OpsWorks CM model (botocore no longer ships it)
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = boto3.session.Session()

    # When a client is asked for
    with pytest.raises(
        RuntimeError, match="set AWS_DATA_PATH to this project's lambda/models"
    ) as e:
        opsworkscm_client(session)

    # Then the error says what to do, and keeps botocore's own
    assert isinstance(e.value.__cause__, UnknownServiceError)
