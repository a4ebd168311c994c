"""Serve the emulator to botocore clients in this process, through a `before-send` hook.

Every botocore session created while the hook is installed answers OpsWorks CM requests from the
emulator instead of the network. That includes the sessions moto's Step Functions interpreter
creates for `aws-sdk:opsworkscm:*` tasks: the hook is registered for `before-send.opsworkscm`,
which botocore runs before moto's generic `before-send` stub.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.handlers
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders

from local.emulator.wire import Emulator

EVENT = "before-send.opsworkscm"


class RawBody(io.BytesIO):
    """An answer's body as botocore reads it from an AWSResponse: all at once, or as the
    stream of a blob (a Lambda Invoke's Payload)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _name_errors_like_step_functions() -> None:
    """Teach moto's Step Functions interpreter the service's error prefix.

    Step Functions names SDK-integration errors `OpsWorksCm.<Exception>`; moto's table of
    prefixes lacks OpsWorks CM and would say `opsworkscm.<Exception>`, so Catch and Retry rules
    written for AWS would not match locally.
    """
    try:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
            state_task_service_aws_sdk as aws_sdk,
        )
    except ImportError:  # moto is a test and demo dependency, not a runtime one
        return
    aws_sdk._SERVICE_ERROR_NAMES.setdefault("opsworkscm", "OpsWorksCm")


class InProcessEndpoint:
    """Context manager: while open, OpsWorks CM clients talk to `emulator` in-process.

    Create clients inside the block; clients made before it keep their own handlers.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._entry = (EVENT, self._before_send)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        target: str | bytes = request.headers.get("X-Amz-Target") or ""
        if isinstance(target, bytes):
            target = target.decode()
        raw: Any = request.body or b""
        body: bytes = raw.encode() if isinstance(raw, str) else bytes(raw)
        answer = self.emulator.handle(target, body, dict(request.headers))
        headers = HTTPHeaders()
        for name, value in answer.headers.items():
            headers[name] = value
        return AWSResponse(request.url, answer.status, headers, RawBody(answer.body))

    def __enter__(self) -> Emulator:
        _name_errors_like_step_functions()
        botocore.handlers.BUILTIN_HANDLERS.append(self._entry)
        # The default session read the handler list when it was made; start a fresh one.
        boto3.DEFAULT_SESSION = None
        return self.emulator

    def __exit__(self, *exc: object) -> None:
        botocore.handlers.BUILTIN_HANDLERS.remove(self._entry)
        boto3.DEFAULT_SESSION = None
