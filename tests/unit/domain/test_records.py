# mypy: disable-error-code="attr-defined"
"""What the orchestrator knows about servers, backups and the quota (records.py): which backups
are the product's own, which hold a slot of the manual-backup limit, which were made of this very
server, and how many slots are free."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_orchestrator.domain.records import (
    BACKUP_ALLOWED_STATES,
    BUSY_STATES,
    COUNTED_STATES,
    SERVER_STATES,
    Backup,
    Quota,
    Server,
)
from local.emulator.shapes import service_model
from tests.support.planning import CREATED, NOW, backup, server

# ---- whose backup ---------------------------------------------------------------------------


def test_a_manual_backup_with_the_products_mark_belongs_to_the_run_that_made_it() -> None:
    made = backup("chef-a", 1, run_id="manual-abc123")

    assert made.is_manual
    assert (made.run_id, made.is_own) == ("manual-abc123", True)


@pytest.mark.parametrize(
    ("made", "why"),
    [
        (backup("chef-a", 1, own=False), "made by hand"),
        (backup("chef-a", 1, description="[opsworks-cm-backup-exempt] x"), "only looks alike"),
        (backup("chef-a", 1, description="[opsworks-cm-backup run=]"), "no run id"),
        # The service's own backups are never the product's, whatever their description says.
        (
            replace(backup("chef-a", 1, run_id="manual-abc123"), backup_type="AUTOMATED"),
            "automated, with the mark",
        ),
    ],
)
def test_a_backup_without_the_products_mark_on_a_manual_backup_is_somebody_elses(
    made: Backup, why: str
) -> None:
    assert (made.run_id, made.is_own) == (None, False), why


# ---- the manual-backup limit --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "counts"),
    [
        ("MANUAL", "IN_PROGRESS", True),
        ("MANUAL", "OK", True),
        ("MANUAL", "FAILED", True),
        # Whatever the service makes of DELETING, the plan does not count on that slot.
        ("MANUAL", "DELETING", False),
        ("AUTOMATED", "IN_PROGRESS", False),
        ("AUTOMATED", "OK", False),
        ("AUTOMATED", "FAILED", False),
        ("AUTOMATED", "DELETING", False),
    ],
)
def test_only_manual_backups_not_being_deleted_hold_a_slot_of_the_limit(
    kind: str, status: str, counts: bool
) -> None:
    assert backup("chef-a", 1, kind=kind, status=status).counts_toward_limit is counts


@pytest.mark.parametrize(
    ("used", "maximum", "free"), [(0, 50, 50), (48, 50, 2), (50, 50, 0), (53, 50, 0)]
)
def test_the_free_slots_are_what_is_left_of_the_limit_and_never_negative(
    used: int, maximum: int, free: int
) -> None:
    assert Quota(used, maximum).headroom == free


@given(st.integers(0, 500), st.integers(0, 500))
def test_filling_the_free_slots_reaches_the_limit_exactly_unless_it_is_passed(
    used: int, maximum: int
) -> None:
    free = Quota(used, maximum).headroom

    assert free >= 0
    assert used + free == max(used, maximum)


# ---- a backup of this very server (safety rule 11) ------------------------------------------


@pytest.mark.parametrize(
    ("of", "made", "same_server"),
    [
        (server("chef-a"), backup("chef-a", 1), True),
        (server("chef-a", created=NOW - timedelta(days=1)), backup("chef-a", 1), True),
        # A second before the server existed: an earlier server of the same name made it.
        (server("chef-a", created=NOW - timedelta(days=1, seconds=-1)), backup("chef-a", 1), False),
        (server("chef-a", engine="Puppet"), backup("chef-a", 1), False),
        (server("chef-b"), backup("chef-a", 1), False),
        # Without its creation time or engine, no backup is provably the server's own.
        (Server("chef-a", "HEALTHY", engine="ChefAutomate"), backup("chef-a", 1), False),
        (server("chef-a", engine=""), backup("chef-a", 1, engine=""), False),
    ],
    ids=[
        "after it was created",
        "at the very moment it was created",
        "before it was created",
        "of another engine",
        "of another server",
        "creation time unknown",
        "engine unknown",
    ],
)
def test_a_backup_is_the_servers_own_only_when_provably_made_while_it_existed(
    of: Server, made: Backup, same_server: bool
) -> None:
    assert made.made_while(of) is same_server


# ---- servers --------------------------------------------------------------------------------


def test_a_server_is_the_same_server_whatever_its_tags_or_description_say() -> None:
    tagged = server("chef-a", tags={"opsworks-cm-backup": "enabled"})
    retagged = replace(tagged, tags={}, described={"Engine": "ChefAutomate"})
    recreated = server("chef-a", created=CREATED + timedelta(days=1))

    assert tagged == retagged
    assert len({tagged, retagged, recreated}) == 2


def test_the_server_states_are_the_services_and_busy_ones_never_allow_a_backup() -> None:
    service_states = service_model().shape_for("ServerStatus").enum

    assert sorted(SERVER_STATES) == sorted(service_states)
    assert set(SERVER_STATES) >= BACKUP_ALLOWED_STATES | BUSY_STATES
    assert not BACKUP_ALLOWED_STATES & BUSY_STATES
    assert set(service_model().shape_for("BackupStatus").enum) - COUNTED_STATES == {"DELETING"}
