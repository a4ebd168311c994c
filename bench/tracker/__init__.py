"""Figure 3: the tracker following whole runs of backups, beside the tracker it replaced.

For runs of N backups (each on its own server, each lasting a few poll intervals, 1-2 deferred
deletions each, about 2 % made to fail so an alert is due) this drives the real path: the
orchestrator's hand-over (`start_trackers`, the stack's pollSeconds and deadlineSeconds scaled)
-> tracker executions of the synthesized definition in moto's Step Functions interpreter, whose
Poll tasks run the tracker's real handler in this process (local/functions.py) -> the in-process
OpsWorks CM emulator. It measures what the baseline (bench/baseline_tracker.json: the Map that
polled each backup with its own DescribeBackups, commit 6573e98) measured, with the same fleets
(the same seed draws the same backups):

- OpsWorks CM calls per poll, by operation (the emulators' call records);
- calls a 5 req/s, burst 10 token bucket (backup_orchestrator.aws.pacing.TokenBucket) would
  refuse: replayed over the recorded call times, and in the deployed case (a poll's calls start
  on a full bucket after a 60 s wait, as the function's own pacer releases them);
- state transitions (StateEntered events) and history events per execution;
- executions and alerts (the SNS topic) per run;
- detection latency: a backup's end to the poll that sees it, in emulated seconds and intervals.

Time scale: one real second of Wait stands for one poll interval. Each execution reads its own
emulated account (one `Emulator` per execution, behind one endpoint), whose clock moves one poll
interval with each of its polls (`faults.PollTime`: every DescribeBackups of the whole account);
so a backup's life is measured in the polls of the execution that follows it, as in AWS, where a
Wait is pollSeconds and a poll takes seconds. The function paces its calls at the deployed rate
(OPSWORKSCM_RATE, 5/s with a burst of 10) in real time, so a poll with many deletions takes real
seconds; the emulated clock does not count them, the deployed estimate of the latency does.

The package, one job a module: backups.py draws a run's backups, account.py is the emulated
account each execution reads, harness.py the synthesized stack in moto (the tracker's handler
wired to the account, the executions' ends and histories, the alerts), measure.py follows one run
and records it, throttling.py replays the recorded calls on the service's token bucket,
records.py turns what a run recorded into its Figures (figures.py, with the baseline's), and
table.py and summary.py present them (the side-by-side table; the JSON and summary rows).
"""

from __future__ import annotations

from bench.tracker.figures import Baseline, Figures, load_baseline
from bench.tracker.measure import POLL_REAL_SECONDS, measure
from bench.tracker.summary import TRANSITIONS_TARGET, rows, to_json, transitions_ratio
from bench.tracker.table import table
from bench.tracker.throttling import BURST, RATE

__all__ = [
    "BURST",
    "POLL_REAL_SECONDS",
    "RATE",
    "TRANSITIONS_TARGET",
    "Baseline",
    "Figures",
    "load_baseline",
    "measure",
    "rows",
    "table",
    "to_json",
    "transitions_ratio",
]
