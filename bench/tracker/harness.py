"""The synthesized stack in moto: the template, the tracker's real handler wired to the emulated
account, its executions' ends and histories, and the alerts they published."""

from __future__ import annotations

import importlib
import io
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from bench.tracker.account import Account
from local.cloud import LocalCloud, synthesize


def template() -> dict[str, Any]:
    """The stack as `cdk synth` builds it (cdk-nag included), in a directory removed after."""
    with tempfile.TemporaryDirectory(prefix="bench-cdk-") as out:
        return synthesize(outdir=Path(out))


def poller_handler(stack: Mapping[str, Any]) -> str:
    """The handler the tracker's function runs, as the template names it."""
    [handler] = [
        str(resource["Properties"]["Handler"])
        for logical, resource in stack["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and logical.startswith("TrackerPoller")
    ]
    return handler


@contextmanager
def noting_polls(account: Account, handler_path: str) -> Iterator[ModuleType]:
    """The tracker's real handler, each invocation noted as the poll of the execution its event
    names (so the account of that execution answers its calls). Yields the handler's module."""
    module_name, _, attribute = handler_path.rpartition(".")
    module = importlib.import_module(module_name)
    real: Callable[[Any, Any], Any] = getattr(module, attribute)

    def handler(event: Any, context: Any) -> Any:
        execution = str(event.get("execution", "")) if isinstance(event, dict) else ""
        with account.polling(execution.rsplit(":", 1)[-1]):
            return real(event, context)

    setattr(module, attribute, handler)
    try:
        yield module
    finally:
        setattr(module, attribute, real)


@contextmanager
def quiet(module: ModuleType) -> Iterator[None]:
    """The handler's logs and EMF metrics (stdout) kept out of the benchmark's output."""
    log_handler = cast("Any", module.logger.registered_handler)
    stream, log_handler.stream = log_handler.stream, io.StringIO()
    try:
        with redirect_stdout(io.StringIO()):
            yield
    finally:
        log_handler.stream = stream


def history(sfn: Any, arn: str) -> Iterator[dict[str, Any]]:
    page: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        answer = sfn.get_execution_history(**page)
        yield from answer["events"]
        if not answer.get("nextToken"):
            return
        page["nextToken"] = answer["nextToken"]


def wait_all(sfn: Any, arns: Sequence[str], timeout: float) -> dict[str, str]:
    """Each execution's final status; those still running after `timeout` real seconds are
    stopped."""
    deadline = time.monotonic() + timeout
    status = dict.fromkeys(arns, "RUNNING")
    while time.monotonic() < deadline:
        for arn in [a for a, s in status.items() if s == "RUNNING"]:
            status[arn] = sfn.describe_execution(executionArn=arn)["status"]
        if "RUNNING" not in status.values():
            return status
        time.sleep(0.25)
    for arn in [a for a, s in status.items() if s == "RUNNING"]:
        sfn.stop_execution(executionArn=arn, cause="benchmark time limit")
        status[arn] = "STOPPED (bench timeout)"
    return status


def all_alerts(cloud: LocalCloud) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    while batch := cloud.alerts():
        found += batch
    return found
