"""Typed AWS clients for the orchestrator, built with retries that respect the service's limits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import UnknownServiceError

if TYPE_CHECKING:
    from types_boto3_opsworkscm import OpsWorksCMClient

# OpsWorks CM allows about 5 requests/s with a burst of 10. Adaptive mode adds client-side rate
# limiting on top of standard retries, and enough attempts that throttling never fails a run.
OPSWORKSCM_RETRIES = Config(
    retries={"mode": "adaptive", "total_max_attempts": 12},
    connect_timeout=5,
    read_timeout=30,
)


def opsworkscm_client(
    session: boto3.session.Session | None = None,
    *,
    config: Config | None = None,
    **kwargs: Any,
) -> OpsWorksCMClient:
    """An OpsWorks CM client; `kwargs` go to `Session.client` (region_name, endpoint_url, ...).

    Raises RuntimeError when botocore cannot find the service model: current botocore no longer
    ships it, so AWS_DATA_PATH must point at the project's `lambda/models`.
    """
    factory: Any = session or boto3
    try:
        client = factory.client("opsworkscm", config=config or OPSWORKSCM_RETRIES, **kwargs)
    except UnknownServiceError as exc:
        raise RuntimeError(
            "botocore has no OpsWorks CM model: set AWS_DATA_PATH to this project's lambda/models "
            "directory (botocore 1.40.19 and later no longer ship the opsworkscm client)"
        ) from exc
    return cast("OpsWorksCMClient", client)
