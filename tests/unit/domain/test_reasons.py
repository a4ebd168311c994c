"""The planner's reasons name the numbers an operator needs."""

from __future__ import annotations

from backup_orchestrator.domain import reasons
from backup_orchestrator.domain.records import PruneScope, Quota


def test_no_room_says_what_fills_the_limit_and_what_to_do() -> None:
    said = reasons.no_room(Quota(50, 50), PruneScope.OWN, started=2, held=1)

    assert said.startswith(
        "not backed up: no room under the account's manual-backup limit (50 of 50 used)"
    )
    assert "backups this product did not create" in said
    assert "2 server(s) that fit were backed up first" in said
    assert "the room of 1 backup(s) is kept" in said
    assert said.endswith("raise the limit, delete old manual backups, or lower retention")


def test_pruning_every_manual_backup_leaves_others_backups_out_of_the_reason() -> None:
    said = reasons.no_room(Quota(10, 10), PruneScope.ALL_MANUAL, started=0)

    assert "did not create" not in said
    assert "backed up first" not in said and "is kept for" not in said
