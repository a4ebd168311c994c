"""Builders for tests of a run's steps (run/): the settings, the request and the report a step
gets, for the slot of tests/support/planning.py."""

from __future__ import annotations

import os

from backup_orchestrator.aws.scheduler import RetryTarget
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import QuotaReport, RunReport, ServerResult
from backup_orchestrator.contract.settings import Settings, parse_settings
from backup_orchestrator.domain.records import Outcome
from tests.support.planning import NOW

# The run of the schedule slot NOW.
RUN = "scheduled-20260105T120000Z"
# Where the slot's next try is sent (the function), and as whom.
TARGET = RetryTarget(
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:orchestrator",
    role_arn="arn:aws:iam::123456789012:role/opsworks-cm-backup-retry",
    name_prefix="opsworks-cm-backup-retry",
)


def settings(**environ: str) -> Settings:
    """The function's settings: the defaults, and `environ` (environment variable names)."""
    return parse_settings({"AWS_DATA_PATH": os.environ["AWS_DATA_PATH"], **environ})


def scheduled(
    attempt: int = 0, *, retrying: tuple[str, ...] | None = None, dry_run: bool = False
) -> RunRequest:
    """The slot's run (attempt 0), or its try `attempt` of the `retrying` servers."""
    key = RUN if attempt == 0 else f"{RUN}-retry-{attempt}"
    return RunRequest(
        RUN, True, None, dry_run, None, None, key, attempt=attempt, retrying=retrying, slot=NOW
    )


def manual(*servers: str, dry_run: bool = False) -> RunRequest:
    return RunRequest("manual-abc", False, servers, dry_run, None, None, "manual-abc")


def outcome(
    server_name: str, outcome: Outcome, reason: str = "why", backup_id: str | None = None
) -> ServerResult:
    return ServerResult(
        server_name=server_name, outcome=outcome, reason=reason, backup_id=backup_id
    )


def run_report(*results: ServerResult, dry_run: bool = False, run_id: str = RUN) -> RunReport:
    """A run's report with these results, before its follow-up."""
    return RunReport(
        run_id=run_id,
        dry_run=dry_run,
        quota=QuotaReport(used=0, maximum=50, used_after_run=0, used_when_settled=0),
        results=list(results),
    )
