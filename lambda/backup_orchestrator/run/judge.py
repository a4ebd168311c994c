"""The run's compliance: which servers it judges against their recovery point objective, and
the verdicts (domain/compliance.py decides) as the report carries them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import ComplianceReport, RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import compliance
from backup_orchestrator.domain.drill_servers import is_drill_server
from backup_orchestrator.domain.planner import tagged_for_backup
from backup_orchestrator.domain.records import GONE, Backup, Outcome, Server


def judged_servers(
    tagged: Sequence[Server],
    request: RunRequest,
    settings: Settings,
    remembered: dict[str, list[compliance.RunEntry]],
) -> tuple[list[Server], set[str]]:
    """The servers judged against their RPO, and which of them are selected: in a scheduled run
    every selected server (a server whose tags could not be read counts as selected) and every
    remembered one that is not any more; in a manual run the servers it names. Never a restore
    drill's temporary server."""
    if request.servers is not None:
        named = [s for s in tagged if s.status != GONE and not is_drill_server(s)]
        return named, set(request.servers)
    selected = {s.name for s in tagged if tagged_for_backup(s, settings.select_tag)}
    judged = [
        s
        for s in tagged
        if s.status != GONE
        and (s.name in selected or s.name in remembered)
        and not is_drill_server(s)
    ]
    return judged, selected


def judge(
    report: RunReport,
    servers: Sequence[Server],
    selected: set[str],
    backups: Sequence[Backup],
    now: datetime,
    settings: Settings,
    remembered: dict[str, list[compliance.RunEntry]],
) -> list[compliance.Compliance]:
    """Judge compliance, with this run's outcomes first among each server's last runs."""
    this_run = {
        r.server_name: [
            compliance.RunEntry(report.run_id, now, r.outcome, r.reason, r.backup_id),
            *remembered.get(r.server_name, []),
        ]
        for r in report.results
    }
    judged = compliance.evaluate(
        servers,
        selected,
        backups,
        now,
        default_rpo_hours=settings.rpo_hours,
        count_automated=settings.compliance_counts_automated,
        history={**remembered, **this_run},
        started={
            r.server_name: r.backup_id
            for r in report.results
            if r.outcome is Outcome.STARTED and r.backup_id
        },
    )
    report.compliance = [
        ComplianceReport(
            server_name=c.server_name,
            selected=c.selected,
            rpo_hours=c.rpo_hours,
            newest_ok_backup=c.newest_ok.backup_id if c.newest_ok else None,
            newest_ok_at=c.newest_ok.created_at if c.newest_ok else None,
            age_seconds=c.age_seconds,
            compliant=c.compliant,
            catching_up=c.catching_up,
            summary=c.summary,
            reasons=list(c.reasons),
        )
        for c in judged
    ]
    return judged
