"""What run.py keeps of a tracker's figures besides its table: the comparison of state
transitions with the baseline, the JSON document, and the summary rows with their targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from backup_orchestrator.domain.history_budget import BATCH, STATE_BUDGET
from backup_orchestrator.domain.tracking import STATE_OVERHEAD, state_bytes
from bench.report import Row
from bench.tracker.backups import START, old_at
from bench.tracker.figures import Baseline, Figures
from bench.tracker.measure import POLL_REAL_SECONDS
from bench.tracker.throttling import BURST, RATE
from local.emulator.records import backup_id_for

# Targets: detection within one poll interval plus this; at least this many times fewer state
# transitions per backup and poll than the baseline, at RATIO_SIZE backups.
LATENCY_SLACK_SECONDS = 30
TRANSITIONS_TARGET = 5.0
RATIO_SIZE = 50
# The size at which a throttled call misses its target (larger runs are reported).
THROTTLE_TARGET_SIZE = 50


def ratio_size(figures: Sequence[Figures], baseline: Baseline) -> int | None:
    """The run size the transitions are compared at: RATIO_SIZE, else the largest both have."""
    common = [f.size for f in figures if f.size in baseline.runs]
    if RATIO_SIZE in common:
        return RATIO_SIZE
    return max(common, default=None)


def transitions_ratio(figures: Sequence[Figures], baseline: Baseline) -> tuple[int, float] | None:
    """(size, old/new state transitions per backup per poll) at `ratio_size`."""
    size = ratio_size(figures, baseline)
    if size is None:
        return None
    [new] = [f for f in figures if f.size == size]
    return size, baseline.runs[size].transitions_per_backup_poll / new.transitions_per_backup_poll


def to_json(figures: Sequence[Figures], baseline: Baseline) -> dict[str, Any]:
    ratio = transitions_ratio(figures, baseline)
    return {
        "design": (
            "poll loop: FirstWait, then a Lambda poll reading the account once "
            "(DescribeBackups, no filter) and applying due deletions, then WaitForBackups"
        ),
        "pollRealSeconds": POLL_REAL_SECONDS,
        "rate": RATE,
        "burst": BURST,
        "baselineCommit": baseline.commit,
        "transitionsPerBackupPollRatio": None
        if ratio is None
        else {"size": ratio[0], "oldOverNew": round(ratio[1], 1)},
        "runs": [asdict(f) for f in figures],
        "baseline": {
            str(f.size): {
                "transitionsPerBackupPoll": round(
                    baseline.runs[f.size].transitions_per_backup_poll, 3
                )
            }
            for f in figures
            if f.size in baseline.runs
        },
    }


def rows(figures: Sequence[Figures], baseline: Baseline) -> list[Row]:
    out: list[Row] = []
    for f in figures:
        out += [_reads_row(f), _throttled_row(f), _runs_row(f), _latency_row(f)]
    ratio = transitions_ratio(figures, baseline)
    if ratio is not None:
        size, times = ratio
        [new] = [f for f in figures if f.size == size]
        old = baseline.runs[size].transitions_per_backup_poll
        out.append(
            Row(
                f"tracker transitions per backup per poll, {size} backups, before/now",
                f"{old:.2f} / {new.transitions_per_backup_poll:.3f} = {times:.0f}x fewer",
                f">= {TRANSITIONS_TARGET:g}x fewer",
                times >= TRANSITIONS_TARGET,
                f"only {times:.1f}x fewer",
            )
        )
    return out


def _reads_row(f: Figures) -> Row:
    reads = f.reads_per_poll or [0]
    deletes = max((r.get("DeleteBackup", 0) for r in f.per_round), default=0)
    return Row(
        f"tracker reads per execution poll, {f.size} backups",
        f"{max(reads)} DescribeBackups (+ at most {deletes} DeleteBackup a round)",
        "1 per execution",
        max(reads) == 1,
        f"{max(reads)} DescribeBackups in one poll",
    )


def _throttled_row(f: Figures) -> Row:
    paced = f.paced_per_round or [0]
    at_target = f.size == THROTTLE_TARGET_SIZE
    return Row(
        f"tracker throttled calls per poll, {f.size} backups",
        f"{max(paced)} deployed (paced), {max(f.throttled_per_round)} replayed",
        "0" if at_target else "-",
        max(paced) == 0 if at_target else None,
        f"{max(paced)} first attempts over the bucket in the busiest round",
    )


def _runs_row(f: Figures) -> Row:
    one = f.executions == 1 and f.alerts == 1
    per_backup = state_bytes(
        {
            "serverName": "srv-000",
            "backupId": backup_id_for("srv-000", START),
            "deferredDeletes": [backup_id_for("srv-000", old_at(0))] * 2,
        }
    )
    why = (
        f"plan_batches splits the run: one execution's state is planned at "
        f"{STATE_OVERHEAD:,} + {per_backup:,} bytes a backup, within {STATE_BUDGET:,} "
        f"(about {(STATE_BUDGET - STATE_OVERHEAD) // per_backup} backups), before BATCH "
        f"({BATCH})"
        if f.executions > 1
        else f"{f.alerts} alerts for {f.failed_backups} failed backups"
    )
    return Row(
        f"tracker executions / alerts per run, {f.size} backups",
        f"{f.executions} / {f.alerts}",
        "1 / 1" if f.size <= BATCH else "-",
        one if f.size <= BATCH else None,
        why,
    )


def _latency_row(f: Figures) -> Row:
    target = f.poll_seconds + LATENCY_SLACK_SECONDS
    worst = max(f.latency_deployed_seconds or [math.inf])
    noticed = not f.never_noticed and f.latency_seconds
    return Row(
        f"tracker detection latency, {f.size} backups",
        f"{max(f.latency_seconds, default=math.inf):.0f} s emulated, {worst:.0f} s with the "
        "poll before's own time",
        f"<= {target} s",
        bool(noticed) and worst <= target,
        f"{f.never_noticed} backups never noticed" if f.never_noticed else f"{worst:.0f} s",
    )
