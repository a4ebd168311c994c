"""Reusable faults for the emulator: hooks for `Emulator.faults`, for chaos tests and demos.

A fault is called as `(operation, params)` before a call reaches the emulated account, and after
the call passed validation (see `Emulator.handle`): an invalid request never meets a fault.
Returning a `ServiceError` answers the call with it, returning None lets the call through. The
faults here are deterministic: given the same seed they fail the same calls, whatever order
threads reach them in, so a failing chaos case reproduces.

- `RandomErrors`: a share of calls answered with an error (throttling, HTTP 500, 503).
- `LostResponses`: the account does the work, then the answer is lost (HTTP 500), so the caller
  cannot tell whether its call took effect.
- `BeforeCall`: something happens to the account right before a matching call reaches it (a
  server changes state or vanishes, another caller steps in).
- `PollTime`: emulated time passes as a tracker or a drill polls, or as a caller waits for room.
- `DeniedAsNotFound`: a policy denies chosen operations on chosen resources, and the service
  answers as its reference allows, `ResourceNotFoundException`, while the resources still exist.
- `DeletionWitness`: not a fault but a witness: what every `DeleteBackup` was aimed at, as it was
  at that moment.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from local.emulator.backend import OPERATIONS, Backend
from local.emulator.backend import Backup as EmulatedBackup
from local.emulator.clock import ManualClock
from local.emulator.errors import (
    InternalFailure,
    ResourceNotFoundException,
    ServiceError,
    ThrottlingException,
)
from local.emulator.wire import Emulator

MESSAGES: dict[str, str] = {
    "ThrottlingException": "Rate exceeded",
    "InternalFailure": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "The service is unavailable. Please try again later.",
}


def call_key(operation: str, params: dict[str, Any]) -> str:
    """A call's identity: its operation and parameters, independent of key order."""
    return json.dumps({"operation": operation, "params": params}, sort_keys=True, default=str)


class _Dice:
    """Seeded decisions per call identity and attempt, with a cap on failures in a row."""

    def __init__(self, rate: float, seed: int, max_in_a_row: int | None) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, not {rate}")
        self.rate = rate
        self.seed = seed
        self.max_in_a_row = max_in_a_row
        self._attempts: dict[str, int] = {}
        self._streaks: dict[str, int] = {}
        self._lock = threading.Lock()

    def roll(self, key: str) -> bool:
        """Whether this attempt of the call `key` fails."""
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            streak = self._streaks.get(key, 0)
            hit = random.Random(f"{self.seed}|{key}|{attempt}").random() < self.rate
            if self.max_in_a_row is not None and streak >= self.max_in_a_row:
                hit = False
            self._streaks[key] = streak + 1 if hit else 0
            return hit


class RandomErrors:
    """Answer a share (`rate`) of calls with `error`, the same calls for the same `seed`.

    Whether the n-th attempt of a call (same operation, same parameters) fails depends only on the
    seed, the call and n, not on which thread got there first. `operations` limits the fault to
    some operations (default: all). `max_in_a_row` caps how many attempts of the same call fail
    running: a storm the caller's retries can ride out, not an outage.
    """

    def __init__(
        self,
        rate: float,
        *,
        seed: int,
        error: type[ServiceError] = ThrottlingException,
        operations: Iterable[str] | None = None,
        max_in_a_row: int | None = None,
    ) -> None:
        self.error = error
        self.operations = frozenset(operations) if operations is not None else None
        self._dice = _Dice(rate, seed, max_in_a_row)
        self.injected: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        if self.operations is not None and operation not in self.operations:
            return None
        if not self._dice.roll(call_key(operation, params)):
            return None
        with self._lock:
            self.injected.append((operation, params))
        return self.error(MESSAGES.get(self.error.code, f"injected {self.error.code}"))


class LostResponses:
    """For a share of calls, let the account do the work, then answer HTTP 500 instead.

    This is the fault a retrying caller finds hardest: its first attempt took effect, and the retry
    meets the consequences (a server already BACKING_UP, a backup already DELETING). When the
    account refuses the call anyway, its real answer is returned. Put it last in
    `Emulator.faults`: it answers the call itself.
    """

    def __init__(
        self,
        emulator: Emulator,
        rate: float,
        *,
        seed: int,
        operations: Iterable[str] = ("CreateBackup", "DeleteBackup"),
        max_in_a_row: int | None = 1,
    ) -> None:
        self.emulator = emulator
        self.operations = frozenset(operations)
        unknown = self.operations - OPERATIONS.keys()
        if unknown:
            raise ValueError(f"the emulator does not implement {', '.join(sorted(unknown))}")
        self._dice = _Dice(rate, seed, max_in_a_row)
        self.lost: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation not in self.operations or not self._dice.roll(call_key(operation, params)):
            return None
        backend = self.emulator.backend
        caller = f"arn:aws:iam::{backend.config.account_id}:user/chaos"
        try:
            with backend.lock:
                getattr(backend, OPERATIONS[operation])(params, caller)
        except ServiceError as refused:
            return refused
        with self._lock:
            self.lost.append((operation, params))
        return InternalFailure("The response was lost after the request took effect.")


def for_server(emulator: Emulator, name: str) -> Callable[[dict[str, Any]], bool]:
    """A `when` for `BeforeCall`: calls about server `name`, by name or by its ARN."""
    arn = emulator.backend.servers[name].arn

    def matches(params: dict[str, Any]) -> bool:
        return params.get("ServerName") == name or params.get("ResourceArn") == arn

    return matches


class BeforeCall:
    """Run `action` right before a call to `operation` that `when` picks, at most `times` times.

    The call then goes on to the account as usual. `action` runs without the account's lock (it
    may make calls of its own); use `account_change` for changes to the account itself.
    """

    def __init__(
        self,
        operation: str,
        action: Callable[[], None],
        *,
        when: Callable[[dict[str, Any]], bool] = lambda _params: True,
        times: int = 1,
    ) -> None:
        self.operation = operation
        self.action = action
        self.when = when
        self.times = times
        self.fired = 0
        self._lock = threading.Lock()

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation != self.operation or not self.when(params):
            return None
        with self._lock:
            if self.fired >= self.times:
                return None
            self.fired += 1
        self.action()
        return None


def account_change(emulator: Emulator, change: Callable[[Backend], Any]) -> Callable[[], None]:
    """An action for `BeforeCall` that changes the account under its lock."""

    def act() -> None:
        with emulator.backend.lock:
            change(emulator.backend)

    return act


@dataclass(frozen=True)
class BackupRecord:
    """A backup as it was at one moment."""

    backup_id: str
    server_name: str
    backup_type: str
    status: str
    created_at: datetime
    description: str
    engine: str
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, backup: EmulatedBackup) -> BackupRecord:
        return cls(
            backup.backup_id,
            backup.server_name,
            backup.backup_type,
            backup.status,
            backup.created_at,
            backup.description,
            backup.server_fields["Engine"],
            dict(backup.tags),
        )


class DeletionWitness:
    """Records what every `DeleteBackup` reaching the faults was aimed at, as it was then.

    `first_seen[backup_id]` is the backup at the first attempt to delete it (None when there was
    no such backup). Put it first in `Emulator.faults` to see attempts that other faults answer.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.first_seen: dict[str, BackupRecord | None] = {}
        self.attempts: list[tuple[str, BackupRecord | None]] = []
        self._lock = threading.Lock()

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation != "DeleteBackup":
            return None
        backend = self.emulator.backend
        backup_id = str(params.get("BackupId", ""))
        with backend.lock:
            backend.settle()
            found = backend.backups.get(backup_id)
            record = BackupRecord.of(found) if found is not None else None
        with self._lock:
            self.first_seen.setdefault(backup_id, record)
            self.attempts.append((backup_id, record))
        return None


class PollTime:
    """Emulated time passes as a caller polls. `on="backup"`: each DescribeBackups of the account
    (a tracker's poll) or of one backup moves the clock `seconds`; with `shared`, polls of
    backups followed side by side split the step, so the clock moves about `seconds` per round
    whatever the number of backups. `on="quota"`: each DescribeAccountAttributes (a caller
    waiting for room) does. `on="server"`: each DescribeServers of one server (a restore drill's
    poll) does."""

    def __init__(
        self,
        emulator: Emulator,
        clock: ManualClock,
        seconds: float,
        *,
        shared: bool = False,
        on: Literal["backup", "quota", "server"] = "backup",
    ):
        self.emulator = emulator
        self.clock = clock
        self.seconds = seconds
        self.shared = shared
        self.on = on

    def _polled(self, operation: str, params: dict[str, Any]) -> bool:
        if self.on == "quota":
            return operation == "DescribeAccountAttributes"
        if self.on == "server":
            return operation == "DescribeServers" and "ServerName" in params
        return operation == "DescribeBackups" and "ServerName" not in params

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        if self._polled(operation, params):
            step = self.seconds
            if self.shared:
                running = sum(
                    1 for b in self.emulator.backend.backups.values() if b.status == "IN_PROGRESS"
                )
                step /= max(1, running)
            self.clock.advance(step)
        return None


class DeniedAsNotFound:
    """A policy (a service control policy, a permissions boundary, an edited role) that denies
    `operations` on the servers and backups named in `resources` (server names or backup IDs),
    answered as OpsWorks CM documents it may: `ResourceNotFoundException`, "does not exist, or
    access was denied". A call names its resource by ServerName, BackupId or ResourceArn (the
    server of that ARN); the resource stays in the account. `denied` lists what was refused."""

    def __init__(self, emulator: Emulator, operations: Iterable[str], resources: Iterable[str]):
        self.emulator = emulator
        self.operations = frozenset(operations)
        self.resources = frozenset(resources)
        self.denied: list[tuple[str, str]] = []

    def _named(self, params: dict[str, Any]) -> str | None:
        arn = params.get("ResourceArn")
        if arn is not None:
            servers = self.emulator.backend.servers.values()
            return next((s.name for s in servers if s.arn == arn), str(arn))
        named = params.get("BackupId") or params.get("ServerName")
        return None if named is None else str(named)

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        named = self._named(params)
        if operation not in self.operations or named not in self.resources:
            return None
        self.denied.append((operation, named))
        return ResourceNotFoundException(f"{named} does not exist, or access was denied.")
