"""AWS clients for the orchestrator, built with retries and pacing that respect service limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import UnknownServiceError

from backup_orchestrator.aws.pacing import TokenBucket

if TYPE_CHECKING:
    from types_boto3_opsworkscm import OpsWorksCMClient

# OpsWorks CM allows about 5 requests/s with a burst of 10 across operations. The client paces
# itself to that (every HTTP attempt takes a token). Retries are not botocore's: they live in the
# service adapter (see retries.py), because botocore retries the manual-backup quota error as if it
# were throttling.
SERVICE_RATE = 5.0
SERVICE_BURST = 10
OPSWORKSCM_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=16,
)

# A state machine's task gives up on a call sooner than a run does (its state machine retries
# the task itself): shorter timeouts, the same single attempt.
TASK_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=10,
)


def opsworkscm_client(
    session: boto3.session.Session | None = None,
    *,
    config: Config | None = None,
    pace: TokenBucket | None = None,
    **kwargs: Any,
) -> OpsWorksCMClient:
    """An OpsWorks CM client; `kwargs` go to `Session.client` (region_name, endpoint_url, ...).

    `pace`, when given, is taken before every HTTP attempt so a run stays inside the rate limit.
    Raises RuntimeError when botocore cannot find the service model: current botocore no longer
    ships it, so AWS_DATA_PATH must point at the project's `lambda/models`.
    """
    factory: Any = session or boto3
    try:
        client = factory.client("opsworkscm", config=config or OPSWORKSCM_CONFIG, **kwargs)
    except UnknownServiceError as exc:
        raise RuntimeError(
            "botocore has no OpsWorks CM model: set AWS_DATA_PATH to this project's lambda/models "
            "directory (botocore 1.40.19 and later no longer ship the opsworkscm client)"
        ) from exc
    if pace is not None:
        # First in line, ahead of anything else listening for the send (stubs, emulators).
        client.meta.events.register_first("before-send.opsworkscm", lambda **_: pace.acquire())
    return cast("OpsWorksCMClient", client)


def service_pace(rate: float = SERVICE_RATE) -> TokenBucket:
    """A pacer at `rate` requests per second (default: the service's documented rate) with the
    service's burst."""
    return TokenBucket(rate, SERVICE_BURST)
