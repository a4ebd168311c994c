"""The OpsWorks CM account the tracker's executions read: one emulated account per execution,
behind one in-process endpoint, each recording what its polls read."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.tracker.backups import START, Planted, old_at
from local.emulator import Emulator, EmulatorConfig, ManualClock
from local.emulator.faults import PollTime
from local.emulator.wire import WireResponse
from local.fleet import add_own_backup


@dataclass(frozen=True)
class Read:
    """One poll's read of the account: real time, emulated time, what it said of each backup."""

    real: float
    emulated: datetime
    statuses: dict[str, str]


class Account:
    """One in-process OpsWorks CM endpoint in front of one emulated account per tracker
    execution: a call goes to the account of the execution whose poll makes it. Each account's
    clock moves one poll interval with each of its execution's polls."""

    def __init__(self, poll_seconds: int) -> None:
        self.poll_seconds = poll_seconds
        self.shards: dict[str, Emulator] = {}
        self.reads: dict[str, list[Read]] = {}
        self._polling = threading.local()

    def add(self, execution: str, planted: Sequence[Planted]) -> None:
        """The account `execution` reads: the servers of `planted`, their old backups and their
        new backups, started at START."""
        clock = ManualClock(START)
        config = EmulatorConfig(
            delete_seconds=30,
            server_limit=len(planted),
            manual_backup_limit=10 * len(planted) + 50,
        )
        # Throttling is replayed after (throttling.py), on the recorded calls.
        emulator = Emulator(config, clock, rate=0)
        emulator.faults.append(PollTime(emulator, clock, self.poll_seconds))
        backend = emulator.backend
        with backend.lock:
            for p in planted:
                backend.add_server(p.server)
                for number, backup_id in enumerate(p.deferred):
                    assert add_own_backup(backend, p.server, old_at(number)).backup_id == backup_id
                backend.config.backup_seconds = p.seconds
                created = backend.op_create_backup({"ServerName": p.server}, "bench")["Backup"]
                assert created["BackupId"] == p.backup_id, created["BackupId"]
            backend.config.fail_backups = tuple(p.server for p in planted if p.fails)
        self.reads[execution] = []
        self._observe(emulator, self.reads[execution])
        self.shards[execution] = emulator

    @staticmethod
    def _observe(emulator: Emulator, reads: list[Read]) -> None:
        """Record what each read of the whole account said (a poll: DescribeBackups, no filter)."""
        backend = emulator.backend
        original = backend.op_describe_backups

        def describe(params: dict[str, Any], caller: str) -> dict[str, Any]:
            result: dict[str, Any] = original(params, caller)
            if not params.get("BackupId") and not params.get("ServerName"):
                statuses = {b["BackupId"]: b["Status"] for b in result["Backups"]}
                reads.append(Read(time.monotonic(), backend.clock.now(), statuses))
            return result

        backend.op_describe_backups = describe  # type: ignore[method-assign]

    @contextmanager
    def polling(self, execution: str) -> Iterator[None]:
        """Calls made by this thread in the block are the poll of `execution`."""
        self._polling.execution = execution
        try:
            yield
        finally:
            self._polling.execution = None

    def handle(self, target: str, body: bytes, headers: Mapping[str, str]) -> WireResponse:
        execution = getattr(self._polling, "execution", None)
        if execution not in self.shards:
            raise RuntimeError(f"an OpsWorks CM call outside a tracker poll ({target})")
        return self.shards[execution].handle(target, body, headers)
