"""The JSON 1.1 wire protocol of OpsWorks CM, in front of the emulated account.

`Emulator.handle` turns one HTTP request (target header, body, headers) into one HTTP response,
the way the service does: throttling first, then the input checked against the model and the
rules that need only the request, then injected faults and the account (see `handle`). Both the
HTTP endpoint and the in-process botocore hook call it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from backup_orchestrator.aws.pacing import TokenBucket
from local.emulator import rules, shapes
from local.emulator.backend import OPERATIONS, Backend, EmulatorConfig
from local.emulator.callers import Caller, caller_of
from local.emulator.clock import Clock
from local.emulator.errors import (
    InternalFailure,
    SerializationException,
    ServiceError,
    ThrottlingException,
    UnknownOperationException,
    UnsupportedOperationException,
    ValidationException,
)

TARGET_PREFIX = "OpsWorksCM_V2016_11_01."
CONTENT_TYPE = "application/x-amz-json-1.1"
_DEFAULTS = EmulatorConfig()

# A fault decides, once a call is valid and before the backend sees it, whether to answer it with
# an error instead.
Fault = Callable[[str, dict[str, Any]], ServiceError | None]
# Rewrites the Date of every answer: given the account's, the value to send (None: no Date).
DateHeader = Callable[[str], str | None]


@dataclass(frozen=True)
class Call:
    """One request the emulator answered: for tests and benchmarks that count calls."""

    operation: str
    params: dict[str, Any]
    error: str | None
    at: float
    # Where it went: the account and region whose backend answered (or would have).
    account: str = _DEFAULTS.account_id
    region: str = _DEFAULTS.region


@dataclass(frozen=True)
class WireResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


class Emulator:
    """Emulated OpsWorks CM accounts and regions behind the service's wire protocol.

    Each account and region has its own servers, backups and limits (a `Backend`), and a request
    reaches the one its credentials and signature name, as on AWS (callers.py): the account of
    its access key, the region of its SigV4 credential scope; an unsigned request, or a key of no
    known account, reaches the default, `backend` (the `config`'s account and region, by default
    123456789012 and us-east-1). `backend_for` makes the others on first use, with the default's
    clock and a copy of its config as it is then (limits, durations, failures); `backends` lists
    them. Throttling is per account and region too: `bucket` is the default's.

    rate/burst: requests per second and burst (rate 0 turns throttling off).
    latency_ms: added to every response. strict: check every response against the model's
    output shape and answer InternalFailure if it does not fit (tests turn this on).

    `date_header` (set it on the instance) stands for what a network may do to the Date of the
    service's answers, for tests of a client that cannot read it: e.g. `lambda d: f"{d}, {d}"`
    for a Date sent twice (joined with a comma, as urllib3 and so botocore hand it over), or one
    without a zone or unparsable. Its None sends no Date in-process; the HTTP endpoint then sends
    this machine's time, as any HTTP server does.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        clock: Clock | None = None,
        *,
        rate: float = 5.0,
        burst: int = 10,
        latency_ms: float = 0.0,
        strict: bool = False,
    ) -> None:
        default = Backend(config, clock)
        self._default = (default.config.account_id, default.config.region)
        self._backends: dict[tuple[str, str], Backend] = {self._default: default}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._backends_lock = threading.RLock()
        self.bucket = TokenBucket(rate, burst)
        self.latency_ms = latency_ms
        self.strict = strict
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.date_header: DateHeader | None = None
        self._calls_lock = threading.Lock()
        self._model = shapes.service_model()

    @property
    def backend(self) -> Backend:
        """The default account and region's backend."""
        return self._backends[self._default]

    @backend.setter
    def backend(self, backend: Backend) -> None:
        with self._backends_lock:
            self._backends[self._default] = backend

    @property
    def config(self) -> EmulatorConfig:
        return self.backend.config

    def backend_for(self, account: str, region: str) -> Backend:
        """The backend of `account` in `region`, made on first use like the default's."""
        key = (account, region)
        with self._backends_lock:
            backend = self._backends.get(key)
            if backend is None:
                default = self.backend
                config = replace(default.config, account_id=account, region=region)
                backend = self._backends[key] = Backend(config, default.clock)
            return backend

    def backends(self) -> dict[tuple[str, str], Backend]:
        """Every backend made so far, by (account, region); the default's first."""
        with self._backends_lock:
            return dict(self._backends)

    def _bucket_for(self, account: str, region: str) -> TokenBucket:
        if (account, region) == self._default:
            return self.bucket
        with self._backends_lock:
            bucket = self._buckets.get((account, region))
            if bucket is None:
                bucket = TokenBucket(self.bucket.rate, self.bucket.burst)
                self._buckets[account, region] = bucket
            return bucket

    def calls_to(self, *operations: str) -> list[Call]:
        """The answered calls (throttled ones included) to any of `operations`."""
        with self._calls_lock:
            return [c for c in self.calls if c.operation in operations]

    def handle(self, target: str, body: bytes, headers: Mapping[str, str]) -> WireResponse:
        """Answer one request, checking it in the order the service does:

        1. the operation the X-Amz-Target header names (UnknownOperationException);
        2. the request rate (ThrottlingException);
        3. the body, as JSON (SerializationException);
        4. the input against the model's constraints, then against the service's rules that need
           nothing but the request (ValidationException). Nothing about the account has been read
           yet, so an invalid request is refused alike whatever the servers and backups it names
           are doing, or whether they exist;
        5. whether the emulator implements the operation (UnsupportedOperationException);
        6. `faults`: they stand for the account and the service behind the front door (a server
           changing state, a lost response, an internal error), so they only see valid requests;
        7. the account itself, whose answers read its state (ResourceNotFoundException,
           InvalidStateException, LimitExceededException, ...).
        """
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else target
        params: dict[str, Any] = {}
        caller = self._caller(headers)
        backend = self.backend_for(caller.account, caller.region)
        try:
            if not target.startswith(TARGET_PREFIX) or operation not in self._model.operation_names:
                raise UnknownOperationException(
                    f"Unknown operation: {target or '(no X-Amz-Target)'}"
                )
            # The service throttles before it reads a request: a throttled call is answered the
            # same whatever its body, and a client's retries meet the throttle, not validation.
            if not self._bucket_for(caller.account, caller.region).try_acquire():
                with suppress(SerializationException):
                    params = self._parse(body)  # only for the record of calls
                raise ThrottlingException("Rate exceeded")
            params = self._parse(body)
            self._validate(operation, params)
            method = self._method(operation)
            for fault in self.faults:
                injected = fault(operation, params)
                if injected is not None:
                    raise injected
            result = self._call(operation, method, params, backend, caller)
        except ServiceError as error:
            self._record(operation, params, error.code, caller)
            payload = {"__type": error.code, "message": error.message}
            return self._respond(error.status, payload, self._date(backend))
        self._record(operation, params, None, caller)
        return self._respond(200, result, self._date(backend))

    def _date(self, backend: Backend) -> str | None:
        """The HTTP Date of an answer: the account's clock, as the service's own answers carry
        the service's time (as `date_header` rewrites it, when set)."""
        date = format_datetime(backend.clock.now(), usegmt=True)
        return date if self.date_header is None else self.date_header(date)

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            params = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SerializationException(f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise SerializationException("The request body must be a JSON object.")
        return params

    def _validate(self, operation: str, params: dict[str, Any]) -> None:
        """Raises ValidationException for a request that breaks the model or a service rule
        that needs only the request. Reads nothing of the account."""
        shape = self._model.operation_model(operation).input_shape
        errors = shapes.validation_errors(params, shape, strict=False)
        if errors:
            raise ValidationException(shapes.describe_errors(errors))
        rules.check_request(operation, params)

    @staticmethod
    def _method(operation: str) -> str:
        method = OPERATIONS.get(operation)
        if method is None:
            raise UnsupportedOperationException(
                f"The OpsWorks CM emulator does not implement {operation}. "
                f"It implements: {', '.join(sorted(OPERATIONS))}."
            )
        return method

    def _call(
        self, operation: str, method: str, params: dict[str, Any], backend: Backend, caller: Caller
    ) -> dict[str, Any]:
        with backend.lock:
            result: dict[str, Any] = getattr(backend, method)(params, caller.arn)
        if self.strict:
            shape = self._model.operation_model(operation).output_shape
            problems = shapes.validation_errors(result, shape, strict=True)
            if problems:
                raise InternalFailure(f"{operation} response breaks the model: {problems}")
        return result

    def _caller(self, headers: Mapping[str, str]) -> Caller:
        account, region = self._default
        return caller_of(headers, account, region)

    def _record(
        self, operation: str, params: dict[str, Any], error: str | None, caller: Caller
    ) -> None:
        call = Call(operation, params, error, time.monotonic(), caller.account, caller.region)
        with self._calls_lock:
            self.calls.append(call)

    @staticmethod
    def _respond(status: int, payload: dict[str, Any], date: str | None) -> WireResponse:
        body = json.dumps(payload, default=_encode).encode()
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Content-Length": str(len(body)),
            "Date": date,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        return WireResponse(status, {k: v for k, v in headers.items() if v is not None}, body)
