"""The side-by-side table of section 3: each figure of a run, the baseline's beside the poll
loop's."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

from bench.tracker.figures import Figures


def _mean_max(values: Sequence[float] | None, fmt: str = "{:.0f}") -> str:
    if not values:
        return "-"
    if len(set(values)) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} / {fmt.format(max(values))}"


def _ops(counts: Mapping[str, float], fmt: str = "{:g}") -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{op} {fmt.format(n)}" for op, n in ordered) or "-"


def _busiest(f: Figures) -> dict[str, int]:
    return max(f.per_round, key=lambda r: sum(r.values()))


def _per_round(values: Sequence[int] | None) -> str:
    if values is None:
        return "-"
    return f"{statistics.mean(values):.1f} / {max(values)}"


def _reads(f: Figures) -> str:
    if f.reads_per_poll is None:  # the Map: one DescribeBackups per backup an execution follows
        return f"{max(f.per_execution)} (one per backup)"
    return _mean_max(f.reads_per_poll, "{:g}")


def _latency(f: Figures) -> str:
    return _mean_max(f.latency_seconds) + (
        f" ({f.never_noticed} never noticed)" if f.never_noticed else ""
    )


FIGURES: list[tuple[str, Callable[[Figures], str]]] = [
    (
        "tracker executions (backups each)",
        lambda f: f"{f.executions} ({_mean_max(f.per_execution, '{:.1f}')})",
    ),
    ("execution outcomes", lambda f: ", ".join(f"{n} {s}" for s, n in sorted(f.statuses.items()))),
    (
        "backups made to fail / alerts published / executions in state Alert",
        lambda f: f"{f.failed_backups} / {f.alerts} / {f.alerting_executions}",
    ),
    (
        "OpsWorks CM calls, whole run (by operation)",
        lambda f: f"{sum(f.calls.values())} ({_ops(f.calls)})",
    ),
    ("poll rounds", lambda f: str(f.rounds)),
    ("DescribeBackups per execution per poll, mean / max", _reads),
    (
        "calls per poll round, mean (by operation)",
        lambda f: (
            f"{sum(f.calls.values()) / f.rounds:.1f} "
            f"({_ops({op: n / f.rounds for op, n in f.calls.items()}, '{:.1f}')})"
        ),
    ),
    (
        "calls in the busiest poll round (by operation)",
        lambda f: f"{sum(_busiest(f).values())} ({_ops(_busiest(f))})",
    ),
    (
        "throttled at 5/s burst 10, replayed on the bench's call times: per round mean / busiest "
        "(run)",
        lambda f: (
            f"{_per_round(f.throttled_per_round)} "
            f"({sum(f.throttled_per_round)} of {sum(f.calls.values())})"
        ),
    ),
    (
        "throttled, deployed case (full bucket; Map: calls at once, poll loop: paced by the "
        "function): per round mean / busiest",
        lambda f: _per_round(f.paced_per_round or f.simultaneous_per_round),
    ),
    (
        "throttled if each poll's calls came at once, unpaced: per round mean / busiest",
        lambda f: _per_round(f.simultaneous_per_round),
    ),
    (
        "state transitions (StateEntered) per execution, mean / max",
        lambda f: _mean_max(f.transitions),
    ),
    ("history events per execution, mean / max", lambda f: _mean_max(f.history)),
    (
        "state transitions / history events per backup (whole run / backups)",
        lambda f: f"{sum(f.transitions) / f.size:.2f} / {sum(f.history) / f.size:.2f}",
    ),
    (
        "state transitions per backup per poll (whole run / backup-polls)",
        lambda f: f"{f.transitions_per_backup_poll:.3f}",
    ),
    ("detection latency, emulated s, mean / max", _latency),
    (
        "detection latency, poll intervals, mean / max",
        lambda f: _mean_max([v / f.poll_seconds for v in f.latency_seconds], "{:.2f}"),
    ),
    (
        "detection latency plus the poll before's real time (paced deletions), s, mean / max",
        lambda f: _mean_max(f.latency_deployed_seconds),
    ),
    ("polls per backup, mean / max", lambda f: _mean_max(f.polls, "{:.1f}")),
    (
        "bench only: real s a poll takes, mean / max",
        lambda f: _mean_max(f.poll_durations, "{:.2f}"),
    ),
    (
        "bench only: real s between polls of a backup, mean / max (1 = on time)",
        lambda f: _mean_max(f.poll_gaps, "{:.2f}"),
    ),
    (
        "bench only: real s, hand-over (start_trackers) / to last execution's end",
        lambda f: f"{f.handover_seconds:.1f} / {f.real_seconds:.0f}",
    ),
]


def table(new: Figures, old: Figures | None) -> tuple[list[str], list[list[object]]]:
    """The baseline's figures and the poll loop's, side by side, for one run size."""
    headers = ["figure", "before (Map)", "now (poll loop)"]
    rows: list[list[object]] = [
        [label, "-" if old is None else cell(old), cell(new)] for label, cell in FIGURES
    ]
    return headers, rows
