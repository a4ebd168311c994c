"""Serve the stack's Lambda functions in this process, through a `before-send` hook.

moto's Step Functions interpreter invokes a Lambda task's function with a boto3 Lambda client;
while the hook is installed, an Invoke of one of the stack's functions (by the name or ARN the
synthesized definition gives it) runs that function's real handler, named by the template, with
the event and a Lambda context, and answers as Lambda does: 200 with the handler's JSON, or with
`X-Amz-Function-Error: Unhandled` and `{"errorType", "errorMessage"}` when it raises, which Step
Functions names the error after. The handlers run with this process's environment (the tests and
the demo set the orchestrator's, which holds every setting the other functions read).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders

from local.emulator.inprocess import RawBody
from local.hooks import BuiltinHook
from local.runtime import LocalLambdaContext

EVENT = "before-send.lambda.Invoke"
Handler = Callable[[Any, Any], Any]


def load_handler(path: str) -> Handler:
    """The handler a function's `Handler` property names (`package.module.function`)."""
    module, _, name = path.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


def function_name(url: str) -> str:
    """The function an Invoke request names (its name, or the name in its ARN)."""
    named = unquote(url.split("/functions/", 1)[1].split("/", 1)[0])
    if named.startswith("arn:"):
        named = named.split(":")[6]
    return named


class InProcessFunctions(BuiltinHook):
    """While installed, Invoke calls of the functions in `handlers` (name -> handler path) run
    here; any other function is left to whoever else answers (moto)."""

    def __init__(self, handlers: Mapping[str, str], region: str, account: str) -> None:
        self.handlers = dict(handlers)
        self.region, self.account = region, account
        self.invocations: list[tuple[str, Any]] = []
        super().__init__(EVENT, self._before_send)

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        name = function_name(request.url)
        if name not in self.handlers:
            return None
        raw: Any = request.body or b"{}"
        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        self.invocations.append((name, event))
        context = LocalLambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{self.account}:function:{name}",
        )
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/json"
        headers["X-Amz-Executed-Version"] = "$LATEST"
        try:
            answer = load_handler(self.handlers[name])(event, context)
        except Exception as exc:  # the function's error is Lambda's answer, not ours
            headers["X-Amz-Function-Error"] = "Unhandled"
            answer = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        body = json.dumps(answer, default=str).encode()
        return AWSResponse(request.url, 200, headers, RawBody(body))
