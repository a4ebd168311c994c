"""The limits the stack checks its settings against at synth are the ones the runtime holds to:
a value the stack lets through is one the function accepts and can honour."""

from __future__ import annotations

import ast
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backup_orchestrator.contract import limits
from backup_orchestrator.contract.events import InvalidRequestError, parse_event
from backup_orchestrator.contract.settings import SettingsError, parse_settings
from backup_orchestrator.contract.validation import problems
from backup_orchestrator.domain import drill_servers, history_budget, records
from backup_orchestrator.domain.drill_servers import EXPIRY_MARGIN, expires_at
from backup_orchestrator.domain.tiers import Retention
from backup_orchestrator.domain.tracking import plan_batches
from tests.conftest import REPO_ROOT

MODELS = os.environ["AWS_DATA_PATH"]
STARTED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# OpsWorks CM's default quota of manual backups per account.
SERVICE_MANUAL_BACKUPS = 50


def settings(**environ: str) -> Any:
    return parse_settings({"AWS_DATA_PATH": MODELS, **environ})


def backup(number: int, deletions: int) -> dict[str, Any]:
    return {
        "serverName": f"srv-{number}",
        "backupId": f"srv-{number}-b",
        "deferredDeletes": [f"srv-{number}-old-{d}" for d in range(deletions)],
    }


def imported_by_the_stack() -> set[str]:
    """The names infra/ imports from the limits."""
    return {
        alias.name
        for path in (REPO_ROOT / "infra").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == limits.__name__
        for alias in node.names
    }


def test_every_limit_the_stack_imports_is_there() -> None:
    assert imported_by_the_stack() - {"*"}
    assert imported_by_the_stack() <= set(limits.__all__)
    assert [name for name in limits.__all__ if not hasattr(limits, name)] == []


@pytest.mark.parametrize(
    ("variable", "low", "high"),
    [
        ("RPO_HOURS", limits.RPO_MIN, limits.RPO_MAX),
    ],
)
def test_a_setting_within_the_stacks_bounds_is_one_the_function_accepts(
    variable: str, low: int, high: int
) -> None:
    field = variable.lower()

    assert getattr(settings(**{variable: str(low)}), field) == low
    assert getattr(settings(**{variable: str(high)}), field) == high
    for outside in (low - 1, high + 1):
        with pytest.raises(SettingsError, match=f"{variable}='{outside}'"):
            settings(**{variable: str(outside)})


def test_a_retention_within_the_stacks_bounds_is_one_the_function_accepts() -> None:
    for retain in (limits.RETAIN_MIN, limits.RETAIN_MAX):
        assert settings(RETENTION=f"daily:{retain}").tiers == limits.Retention(retain)
    for outside in (limits.RETAIN_MIN - 1, limits.RETAIN_MAX + 1):
        with pytest.raises(SettingsError, match=f"RETENTION='daily:{outside}'"):
            settings(RETENTION=f"daily:{outside}")


def test_a_manual_runs_retain_has_the_same_bounds() -> None:
    for retain in (limits.RETAIN_MIN, limits.RETAIN_MAX):
        assert parse_event({"retain": retain}, request_id="r").retention == Retention(retain)
    for outside in (limits.RETAIN_MIN - 1, limits.RETAIN_MAX + 1):
        with pytest.raises(InvalidRequestError, match="field 'retain'"):
            parse_event({"retain": outside}, request_id="r")


def test_every_prune_scope_and_drill_frequency_the_stack_offers_the_function_accepts() -> None:
    for scope in limits.PruneScope:
        assert settings(PRUNE_SCOPE=scope.value).prune_scope is scope
    for frequency in limits.Frequency:
        assert settings(RESTORE_DRILL=frequency.value).restore_drill is frequency


def longest_deadline(poll_seconds: int) -> int:
    """The longest deadline the stack lets through at `poll_seconds` (its check: the polls of a
    run followed to the deadline with the deletions it plans for fit one execution)."""
    deadline = poll_seconds
    while limits.tracker_polls(deadline + 1, poll_seconds, limits.DELETIONS_ALLOWANCE) <= (
        limits.max_polls()
    ):
        deadline += 1
    return deadline


# Poll intervals at which the history, not the deadline's own bound, sets the longest deadline.
@pytest.mark.parametrize("poll_seconds", [1, 10, 60, 98])
def test_at_the_longest_deadline_the_stack_allows_a_run_is_followed_within_the_history(
    poll_seconds: int,
) -> None:
    # Given the longest deadline the stack lets through at this poll interval (one the function
    # accepts), and a run of backups carrying every deletion the stack plans for
    deadline = longest_deadline(poll_seconds)
    accepted = settings(POLL_SECONDS=str(poll_seconds), DEADLINE_SECONDS=str(deadline))
    assert (accepted.poll_seconds, accepted.deadline_seconds) == (poll_seconds, deadline)
    # (more than an account at the service's default quota holds)
    assert limits.DELETIONS_ALLOWANCE >= SERVICE_MANUAL_BACKUPS
    run = [backup(n, limits.DELETIONS_ALLOWANCE // 20) for n in range(20)]

    # When the function plans its trackers, and those of a deadline one interval longer (which
    # the stack refuses)
    [fits] = plan_batches(run, poll_seconds=poll_seconds, deadline_seconds=deadline)
    longer = plan_batches(run, poll_seconds=poll_seconds, deadline_seconds=deadline + poll_seconds)

    # Then the run is one execution whose polls fit; a run to the longer deadline would not
    # fit one, and is split so that each still does
    assert limits.tracker_polls(deadline, poll_seconds, fits.deletions) <= limits.max_polls()
    assert len(longer) > 1
    assert all(
        limits.tracker_polls(deadline + poll_seconds, poll_seconds, b.deletions)
        <= limits.max_polls()
        for b in longer
    )


def test_one_tracker_execution_follows_at_most_a_batch_and_plans_within_the_quota() -> None:
    light = [backup(n, 0) for n in range(limits.BATCH + 1)]

    batches = plan_batches(light, poll_seconds=60, deadline_seconds=600)

    assert [len(b.backups) for b in batches] == [limits.BATCH, 1]
    assert history_budget.HISTORY_BUDGET < limits.HISTORY_LIMIT


@pytest.mark.parametrize("deadline_seconds", [60, 3600, 7200, 86_400])
def test_a_drill_execution_lasts_as_long_as_its_server_counts_as_under_way(
    deadline_seconds: int,
) -> None:
    timeout = limits.drill_execution_seconds(deadline_seconds)

    # Long enough to wait for the source, restore and clean up, each up to the deadline...
    assert timeout > 2 * deadline_seconds + drill_servers.cleanup_seconds(deadline_seconds)
    # ...and a drill server is a leftover only once its execution has timed out.
    expires = expires_at(STARTED, deadline_seconds)
    assert expires - STARTED == timedelta(seconds=timeout) + EXPIRY_MARGIN


def test_the_stack_reads_the_runtimes_own_tables() -> None:
    # What the drill copies from its source and the tag naming its execution, the retries the
    # tracker's tasks plan with, and how a setting's problems are told.
    assert (limits.COPIED, limits.OPTIONAL) == (drill_servers.COPIED, drill_servers.OPTIONAL)
    assert limits.DRILL_EXECUTION == drill_servers.DRILL_EXECUTION
    assert limits.TASK_RETRIES == history_budget.TASK_RETRIES
    assert limits.PruneScope is records.PruneScope
    assert limits.problems is problems
