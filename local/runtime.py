"""Stand-ins for the Lambda runtime and helpers to follow Step Functions executions locally."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class LocalLambdaContext:
    """The parts of the Lambda context the handler and Powertools read."""

    function_name: str = "opsworks-cm-backup-orchestrator"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:opsworks-cm-backup-orchestrator"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 600_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def wait_for_execution(
    sfn: Any, execution_arn: str, *, timeout: float = 120, out: TextIO | None = None
) -> dict[str, Any]:
    """Poll a Step Functions execution until it ends; print a dot a second to `out`.

    Raises TimeoutError when it is still running after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    next_dot = time.monotonic() + 1
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        if out is not None and time.monotonic() >= next_dot:
            out.write(".")
            out.flush()
            next_dot += 1
        time.sleep(0.1)
    raise TimeoutError(f"execution {execution_arn} still running after {timeout} s")
