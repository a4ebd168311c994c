"""The driver: synthesize the stack, hand each run over as the orchestrator does
(`start_trackers`, pollSeconds and deadlineSeconds scaled), and follow its executions to their
end in moto's Step Functions interpreter."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import boto3
from moto import mock_aws

from backup_orchestrator.aws.stepfunctions import start_trackers
from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.domain.tracking import execution_name, plan_batches
from bench.env import environment
from bench.tracker.account import Account
from bench.tracker.backups import SEED, Planted, draw
from bench.tracker.figures import Figures
from bench.tracker.harness import (
    all_alerts,
    history,
    noting_polls,
    poller_handler,
    quiet,
    template,
    wait_all,
)
from bench.tracker.records import Followed, figures
from local.cloud import LocalCloud
from local.emulator import Emulator, InProcessEndpoint

# One real second of Wait stands for one poll interval.
POLL_REAL_SECONDS = 1
# Real seconds a run may take before its executions are stopped.
RUN_TIMEOUT = 300


@dataclass(frozen=True)
class Handover:
    """A run as the orchestrator hands it over, with the deployed settings scaled: its id, its
    backups, the executions start_trackers will start (by name, with the backups each follows),
    and the account they read."""

    run_id: str
    handed: list[dict[str, Any]]
    deadline_seconds: int
    followed: dict[str, list[Planted]]
    account: Account


@dataclass(frozen=True)
class Ended:
    """What a run's executions ended with: their statuses, histories and alerts, and the real
    seconds the hand-over and the whole run took."""

    statuses: list[str]
    events: list[list[dict[str, Any]]]
    alerts: int
    handover: float
    real_seconds: float


def measure(
    sizes: Sequence[int], progress: Callable[[str], None] = lambda _message: None
) -> list[Figures]:
    """Synthesize the stack, then follow one run of each size."""
    # moto's interpreter logs each failed execution's error; the figures count them instead.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    stack = template()
    found = []
    for size in sizes:
        progress(f"following a run of {size} backups")
        found.append(measure_run(stack, size))
    return found


def measure_run(stack: dict[str, Any], size: int) -> Figures:
    """Hand over a run of `size` backups and follow it to the end."""
    rng = random.Random(f"{SEED}-{size}")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        cloud = LocalCloud(stack).create(("Tracker",))
        try:
            variables = cloud.function_environment()  # the orchestrator's, as synthesized
            poll, deadline = int(variables["POLL_SECONDS"]), int(variables["DEADLINE_SECONDS"])
            run = handover(size, poll, deadline, rng)
            ended = follow(stack, cloud, variables, run)
        finally:
            cloud.close()
    return figures(
        Followed(
            size=size,
            poll=poll,
            deadline=deadline,
            followed=run.followed,
            account=run.account,
            statuses=ended.statuses,
            events=ended.events,
            alerts=ended.alerts,
            handover=ended.handover,
            real_seconds=ended.real_seconds,
        )
    )


def handover(size: int, poll: int, deadline: int, rng: random.Random) -> Handover:
    """The run of `size` backups, scaled: pollSeconds -> POLL_REAL_SECONDS, the deadline in the
    same number of polls (so the executions are planned, batched and named as deployed); each
    execution start_trackers will start is given its own account."""
    scaled = math.ceil(deadline * POLL_REAL_SECONDS / poll)
    planted = draw(size, poll, rng)
    handed = [p.handed() for p in planted]
    run_id = f"bench-tracker-{size}"
    batches = plan_batches(handed, poll_seconds=POLL_REAL_SECONDS, deadline_seconds=scaled)
    by_id = {p.backup_id: p for p in planted}
    account = Account(poll)
    followed = {
        execution_name(run_id, number, batch.backups): [by_id[b["backupId"]] for b in batch.backups]
        for number, batch in enumerate(batches, start=1)
    }
    for name, backups in followed.items():
        account.add(name, backups)
    return Handover(run_id, handed, scaled, followed, account)


def follow(
    stack: dict[str, Any], cloud: LocalCloud, variables: dict[str, str], run: Handover
) -> Ended:
    """Start the run's executions with `start_trackers`, the tracker's handler answering from
    the run's account, and wait for their end (RUN_TIMEOUT at most)."""
    with (
        environment({**variables, "POWERTOOLS_LOG_LEVEL": "WARNING"}),
        InProcessEndpoint(cast("Emulator", run.account)),
        noting_polls(run.account, poller_handler(stack)) as module,
        quiet(module),
    ):
        get_settings.cache_clear()
        sfn = boto3.client("stepfunctions")
        started = time.monotonic()
        arns = start_trackers(
            sfn,
            cloud.tracker_arn,
            run.run_id,
            run.handed,
            poll_seconds=POLL_REAL_SECONDS,
            deadline_seconds=run.deadline_seconds,
        )
        handover = time.monotonic() - started
        if [a.rsplit(":", 1)[-1] for a in arns] != list(run.followed):
            raise RuntimeError(
                f"start_trackers started {arns}, the bench planned {list(run.followed)}"
            )
        statuses = wait_all(sfn, arns, RUN_TIMEOUT)
        real_seconds = time.monotonic() - started
        events = [list(history(sfn, arn)) for arn in arns]
        alerts = all_alerts(cloud)
    get_settings.cache_clear()
    return Ended(list(statuses.values()), events, len(alerts), handover, real_seconds)
