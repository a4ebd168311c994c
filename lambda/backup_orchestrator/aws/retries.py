"""Retries for OpsWorks CM calls: throttling and transient faults, never the backup quota.

botocore's retry modes count `LimitExceededException` as throttling. For OpsWorks CM that code
means the account's manual-backup limit, a definite answer that retrying only delays by minutes,
so the OpsWorks CM client is built without botocore retries and calls go through `retrying`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestThrottled"}
)
TRANSIENT_CODES = frozenset(
    {"InternalFailure", "InternalServerError", "ServiceUnavailable", "RequestTimeout"}
)
TRANSIENT_ERRORS = (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


@dataclass
class RetryStats:
    """What the retries saw, for logs and benchmarks."""

    throttled: int = 0
    transient: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, throttled: bool) -> None:
        with self._lock:
            if throttled:
                self.throttled += 1
            else:
                self.transient += 1


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 10
    base_seconds: float = 0.25
    cap_seconds: float = 20.0


def is_retryable(exc: Exception) -> tuple[bool, bool]:
    """(retry?, was it throttling?) for an error from an OpsWorks CM call."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING_CODES:
            return True, True
        return code in TRANSIENT_CODES or status >= 500, False
    return isinstance(exc, TRANSIENT_ERRORS), False


def full_jitter(ceiling: float) -> float:
    return random.uniform(0, ceiling)


def retrying(
    call: Callable[[], T],
    *,
    policy: RetryPolicy = RetryPolicy(),
    stats: RetryStats | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float], float] = full_jitter,
) -> T:
    """Run `call`, retrying throttling and transient faults with capped exponential backoff and
    full jitter. Raises the last error when attempts run out or the error is not retryable."""
    attempt = 1
    while True:
        try:
            return call()
        except (ClientError, *TRANSIENT_ERRORS) as exc:
            retry, throttled = is_retryable(exc)
            if not retry or attempt >= policy.attempts:
                raise
            if stats is not None:
                stats.add(throttled=throttled)
            ceiling = min(policy.cap_seconds, policy.base_seconds * 2 ** (attempt - 1))
            sleep(jitter(ceiling))
            attempt += 1
