"""`python -m bench.run`: measure every figure, print the tables, write them as JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import env

env.apply()

from bench import coldstart, fleet, tracker  # noqa: E402
from bench.report import Row, summary, table  # noqa: E402

DEFAULT_JSON = env.REPO_ROOT / "bench" / "results" / "latest.json"


@dataclass(frozen=True)
class Plan:
    """Which fleets and tracker runs (backups each) to measure, and the hard limit on the whole
    run."""

    name: str
    fleets: tuple[int, ...]
    tracker_runs: tuple[int, ...]
    time_limit_seconds: int


FULL = Plan("full", (10, 50, 200), (10, 50, 200), 14 * 60)
QUICK = Plan("quick", (5, 20), (10,), 5 * 60)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller fleets, shorter backups")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write (default {DEFAULT_JSON})"
    )
    return parser.parse_args(argv)


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("the benchmark ran past its time limit")


def progress(message: str) -> None:
    sys.stdout.flush()
    print(f"... {message}", file=sys.stderr, flush=True)


def section(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    print(f"\n{title}\n{table(headers, rows)}", flush=True)


def orchestrator_figures(plan: Plan) -> tuple[dict[str, Any], list[Row]]:
    results = []
    for size in plan.fleets:
        progress(f"orchestrator run against {size} servers")
        results.append(fleet.measure(size))
    conditions = (
        f"latency {fleet.LATENCY_MS:.0f} ms, rate {fleet.RATE:g}/s, burst {fleet.BURST}; "
        "cells are accepted/minimum"
    )
    section(f"1. Orchestrator API calls per run ({conditions})", *fleet.calls_table(results))
    print(
        "   Servers=DescribeServers Backups=DescribeBackups Account=DescribeAccountAttributes "
        "Tags=ListTagsForResource Create=CreateBackup Delete=DeleteBackup"
    )
    section(
        f"2. Run wall time vs the rate limit's bound (max(0, accepted - {fleet.BURST}) / "
        f"{fleet.RATE:g} s)",
        *fleet.time_table(results),
    )
    data = {
        "latencyMs": fleet.LATENCY_MS,
        "rate": fleet.RATE,
        "burst": fleet.BURST,
        "fleets": [r.to_json() for r in results],
    }
    return data, fleet.rows(results)


def tracker_figures(plan: Plan) -> tuple[dict[str, Any], list[Row]]:
    progress(f"synthesizing the stack, then following runs of {plan.tracker_runs} backups")
    figures = tracker.measure(plan.tracker_runs, progress)
    baseline = tracker.load_baseline()
    for f in figures:
        section(
            f"3. Tracker, a run of {f.size} backups: before (a Map polling each backup, commit "
            f"{baseline.commit}) and now (the poll loop); 1 poll = {f.poll_seconds} emulated s "
            f"= {tracker.POLL_REAL_SECONDS} real s",
            *tracker.table(f, baseline.runs.get(f.size)),
        )
    ratio = tracker.transitions_ratio(figures, baseline)
    if ratio is not None:
        size, times = ratio
        print(
            f"   State transitions per backup per poll at {size} backups, before/now: "
            f"{times:.0f}x fewer now (target: at least {tracker.TRANSITIONS_TARGET:g}x)."
        )
    print(
        "   Each backup lasts U(2, 4) poll intervals and has 1-2 deferred deletions; 2 % fail "
        "(at least one). The function paces its calls at "
        f"{tracker.RATE:g}/s, burst {tracker.BURST}; the deployed case starts each poll on a "
        "full bucket."
    )
    return tracker.to_json(figures, baseline), tracker.rows(figures, baseline)


def cold_start_figures() -> tuple[dict[str, Any], list[Row]]:
    progress("importing the handler in fresh interpreters")
    figure = coldstart.measure()
    section(
        f"4. Cold-start proxy (Python {sys.version.split()[0]} here; Lambda runs 3.13 on arm64)",
        ["handler import (ms)", "median ms", "asset files", "asset KiB", "zipped KiB"],
        [
            [
                " ".join(f"{s * 1000:.0f}" for s in figure.import_seconds),
                round(figure.median * 1000),
                figure.files,
                round(figure.asset_bytes / 1024, 1),
                round(figure.zipped_bytes / 1024, 1),
            ]
        ],
    )
    return figure.to_json(), coldstart.rows(figure)


def write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(plan.time_limit_seconds)
    started = time.monotonic()
    print(f"OpsWorks CM backup benchmark ({plan.name}), {os.cpu_count()} CPUs", flush=True)
    orchestrator, rows = orchestrator_figures(plan)
    tracked, tracker_rows = tracker_figures(plan)
    cold, cold_rows = cold_start_figures()
    signal.alarm(0)
    rows += tracker_rows + cold_rows
    seconds = time.monotonic() - started
    print(f"\nSummary ({seconds:.0f} s)\n{summary(rows)}")
    write(
        args.json,
        {
            "mode": plan.name,
            "finishedAt": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "cpus": os.cpu_count(),
            "orchestrator": orchestrator,
            "tracker": tracked,
            "coldStart": cold,
            "summary": [dataclasses.asdict(r) | {"verdict": r.verdict} for r in rows],
        },
    )
    print(f"\nWrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
