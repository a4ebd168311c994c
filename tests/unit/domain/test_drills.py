"""Restore drills, decided (drills.py): who is due, who gets a slot, from which backup, and a
drill asked for by name."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_orchestrator.domain import drills
from backup_orchestrator.domain.drill_servers import (
    DRILL_OF,
    execution_name,
    server_name,
)
from backup_orchestrator.domain.drills import (
    FREQUENCY_TAG,
    NOT_RUN,
    DrillError,
    Frequency,
    LastDrill,
    Roles,
    check_named,
)
from backup_orchestrator.domain.records import Quota, Server
from tests.support.drilling import (
    PROFILE,
    RUN,
    SELECT,
    SERVICE_ROLE,
    drill_plan,
    skipped,
    source,
    started,
    weekly,
)
from tests.support.planning import NOW, SELECTED, backup

# ---- frequency and due ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "default", "expected"),
    [
        (None, Frequency.OFF, None),
        (None, Frequency.WEEKLY, Frequency.WEEKLY),
        ("monthly", Frequency.WEEKLY, Frequency.MONTHLY),
        ("off", Frequency.MONTHLY, None),
        ("Weekly", Frequency.OFF, "its tag opsworks-cm-backup:restore-drill='Weekly' is not"),
        ("daily", Frequency.WEEKLY, "is not weekly, monthly or off, so it is not drilled"),
    ],
)
def test_the_tag_wins_over_the_default(
    tag: str | None, default: Frequency, expected: Frequency | str | None
) -> None:
    tags = {**SELECTED, **({FREQUENCY_TAG: tag} if tag is not None else {})}

    every = drills.drilled_every(source("chef-a", tags=tags), SELECT, default)

    if isinstance(expected, str) and not isinstance(expected, Frequency):
        assert isinstance(every, str) and expected in every
    else:
        assert every == expected


@pytest.mark.parametrize(
    "server_",
    [
        source("chef-a", tags={FREQUENCY_TAG: "weekly"}),  # not selected for backups
        source("drill-chef-a-1a2b3c", tags={**SELECTED, DRILL_OF: "chef-a"}),
        source("chef-a", "GONE", tags={**SELECTED, FREQUENCY_TAG: "weekly"}),
    ],
    ids=["unselected", "a drill server", "gone"],
)
def test_only_selected_servers_are_ever_drilled(server_: Server) -> None:
    assert drills.drilled_every(server_, SELECT, Frequency.WEEKLY) is None


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (None, True),
        (LastDrill("OK", NOW - timedelta(days=7)), True),
        (LastDrill("FAILED", NOW - timedelta(days=6, hours=23)), False),
        # A drill that created nothing (the server stayed busy) is no drill: due again at once.
        (LastDrill(NOT_RUN, NOW - timedelta(hours=1)), True),
    ],
)
def test_a_weekly_drill_is_due_a_week_after_the_last(last: LastDrill | None, due: bool) -> None:
    result = drill_plan([weekly("chef-a")], last={} if last is None else {"chef-a": last})

    assert started(result) == (["chef-a"] if due else [])
    assert result.skips == []


def test_monthly_is_thirty_days() -> None:
    tags = {**SELECTED, FREQUENCY_TAG: "monthly"}
    last = {
        "chef-a": LastDrill("OK", NOW - timedelta(days=29)),
        "chef-b": LastDrill("OK", NOW - timedelta(days=30)),
    }

    result = drill_plan([source("chef-a", tags=tags), source("chef-b", tags=tags)], last=last)

    assert started(result) == ["chef-b"]


def test_unreadable_tags_say_nothing_while_drills_are_off_by_default() -> None:
    unreadable = source("chef-a", tags_error="AccessDenied")

    assert drill_plan([unreadable], default=Frequency.OFF) == drills.Plan([], [])
    assert not drills.wanted([unreadable], SELECT, Frequency.OFF)
    assert drills.wanted([unreadable], SELECT, Frequency.WEEKLY)
    assert drills.wanted([source("chef-b", tags=SELECTED)], SELECT, Frequency.MONTHLY)
    assert not drills.wanted([source("chef-b", tags=SELECTED)], SELECT, Frequency.OFF)


def test_the_default_drills_every_selected_server() -> None:
    result = drill_plan([source("chef-a"), source("chef-b")], default=Frequency.WEEKLY)

    assert started(result) == ["chef-a", "chef-b"]


def test_a_bad_tag_or_unreadable_tags_are_reported_and_not_drilled() -> None:
    bad = source("chef-bad", tags={**SELECTED, FREQUENCY_TAG: "often"})
    unread = source("chef-unread", tags={}, tags_error="AccessDenied")

    result = drill_plan([bad, unread], default=Frequency.WEEKLY)

    assert result.starts == []
    assert "'often' is not weekly, monthly or off" in skipped(result)["chef-bad"]
    assert skipped(result)["chef-unread"] == "its tags could not be read (AccessDenied)"


# ---- never harm the account -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "maximum", "expected"), [(7, 10, 2), (8, 10, 1), (9, 10, 0), (10, 10, 0), (0, 1, 0)]
)
def test_one_server_slot_always_stays_free_for_the_operator(
    used: int, maximum: int, expected: int
) -> None:
    fleet = [weekly(f"chef-{n}") for n in range(3)]

    result = drill_plan(fleet, quota=Quota(used=used, maximum=maximum))

    assert len(result.starts) == expected
    for name, reason in skipped(result).items():
        taken = f", {expected} taken by the drills started now" if expected else ""
        assert reason == (
            f"no free server slot ({used} of {maximum} used{taken}; one is kept free for you)"
        ), name


@given(
    st.integers(0, 6),
    st.integers(0, 12),
    st.integers(1, 12),
    st.lists(st.integers(1, 60), min_size=0, max_size=6),
)
def test_drills_fill_the_free_slots_but_one_most_overdue_first(
    fresh: int, used: int, maximum: int, days_since: list[int]
) -> None:
    # `fresh` servers never drilled, and one more for each drill `days_since` days ago.
    fleet = [weekly(f"new-{n}") for n in range(fresh)]
    fleet += [weekly(f"old-{n}") for n in range(len(days_since))]
    last = {f"old-{n}": LastDrill("OK", NOW - timedelta(days=d)) for n, d in enumerate(days_since)}
    due = {
        s.name
        for s in fleet
        if s.name.startswith("new") or last[s.name].started_at <= NOW - timedelta(days=7)
    }

    result = drill_plan(fleet, quota=Quota(used=used, maximum=maximum), last=last)

    chosen = started(result)
    assert len(chosen) == min(len(due), max(0, maximum - used - 1))
    assert not chosen or used + len(chosen) + 1 <= maximum
    assert set(chosen) | set(skipped(result)) == due

    def overdue(name: str) -> timedelta:
        return timedelta.max if name not in last else NOW - last[name].started_at

    left_out = [overdue(name) for name in skipped(result)]
    assert all(overdue(name) >= most for name in chosen for most in left_out)


@pytest.mark.parametrize(
    "status", ["BACKING_UP", "RESTORING", "CREATING", "MODIFYING", "CONNECTION_LOST", "FAILED"]
)
def test_no_drill_while_the_server_is_busy_or_broken(status: str) -> None:
    result = drill_plan([weekly("chef-a", status=status)])

    assert result.starts == []
    assert skipped(result)["chef-a"] == (
        f"the server is {status}; a drill starts only when it is RUNNING, HEALTHY or UNHEALTHY "
        "(the next run tries again)"
    )


def test_never_two_drills_of_the_same_server() -> None:
    result = drill_plan(
        [weekly("chef-a"), weekly("chef-b")],
        running={"chef-a": "execution scheduled-20260104T120000Z-chef-a"},
    )

    assert started(result) == ["chef-b"]
    assert skipped(result)["chef-a"] == (
        "a drill of it is still running (execution scheduled-20260104T120000Z-chef-a)"
    )


def test_a_drill_restores_the_newest_good_manual_backup_of_the_servers_life() -> None:
    newest_good = backup("chef-a", 2)
    backups = [
        backup("chef-a", 0.1, status="IN_PROGRESS"),
        backup("chef-a", 0.5, kind="AUTOMATED"),
        backup("chef-a", 1, status="FAILED"),
        backup("chef-a", 1.5, engine="Puppet"),  # not of this server: another engine
        newest_good,
        backup("chef-a", 3),
    ]

    [start] = drill_plan([weekly("chef-a")], backups).starts

    assert start.backup == newest_good


def test_a_backup_this_run_deletes_is_never_restored() -> None:
    kept, going = backup("chef-a", 2), backup("chef-a", 1)

    [start] = drill_plan([weekly("chef-a")], [kept, going], going={going.backup_id}).starts
    retain_one = drill_plan(
        [weekly("chef-b")], [backup("chef-b", 1)], going={backup("chef-b", 1).backup_id}
    )

    assert start.backup == kept
    assert skipped(retain_one)["chef-b"] == (
        "every good manual backup of it is being deleted by this run's retention (a server kept "
        "at retain 1 replaces its only one every run); a drill never restores a backup that is "
        "going"
    )


def test_a_server_without_a_good_manual_backup_is_skipped() -> None:
    result = drill_plan([weekly("chef-a")], [backup("chef-a", 1, status="FAILED")])

    assert skipped(result)["chef-a"] == "it has no good (OK) manual backup to restore"


@pytest.mark.parametrize(
    ("field", "used", "key"),
    [
        ("ServiceRoleArn", "arn:aws:iam::123456789012:role/other", "drillServiceRoleArn"),
        (
            "InstanceProfileArn",
            "arn:aws:iam::123456789012:instance-profile/other",
            "drillInstanceProfileArn",
        ),
    ],
)
def test_a_server_using_roles_the_drill_may_not_pass_is_skipped(
    field: str, used: str, key: str
) -> None:
    result = drill_plan(
        [weekly("chef-a", described={field: used})], roles=Roles(SERVICE_ROLE, PROFILE)
    )

    assert result.starts == []
    assert skipped(result)["chef-a"] == (
        f"it uses {field} {used}, and the drill may pass only "
        f"{SERVICE_ROLE if field == 'ServiceRoleArn' else PROFILE} (context key {key})"
    )


def test_a_description_without_what_a_drill_copies_is_skipped() -> None:
    chef = dataclasses.replace(weekly("chef-a"), described={"ServerName": "chef-a"})

    result = drill_plan([chef])

    assert skipped(result)["chef-a"].startswith("DescribeServers does not give its Engine, ")


# ---- asked for by name ----------------------------------------------------------------------


def test_a_named_server_is_drilled_now_due_or_not_and_even_if_off() -> None:
    chef = source("chef-a", tags={FREQUENCY_TAG: "off"})
    last = {"chef-a": LastDrill("OK", NOW - timedelta(hours=1))}
    older = backup("chef-a", 5)

    [start] = drill_plan(
        [chef, weekly("chef-b")],
        [backup("chef-a", 1), older],
        last=last,
        named=["chef-a"],
        backup_id=older.backup_id,
    ).starts

    assert (start.source.name, start.backup) == ("chef-a", older)


def test_a_named_server_is_drilled_whatever_its_place_among_the_servers() -> None:
    result = drill_plan([weekly("chef-a"), source("chef-b")], named=["chef-b"])

    assert started(result) == ["chef-b"]
    [start] = result.starts
    assert (start.drill_server, start.execution) == (
        server_name("chef-b", RUN),
        execution_name(RUN, "chef-b"),
    )


def test_a_drill_is_named_after_its_run_and_server() -> None:
    [start] = drill_plan([weekly("chef-a")]).starts

    assert (start.drill_server, start.execution) == (
        server_name("chef-a", RUN),
        execution_name(RUN, "chef-a"),
    )


@pytest.mark.parametrize(
    ("names", "backup_id", "message"),
    [
        (["ghost"], None, "--servers: no OpsWorks CM server named 'ghost'"),
        (
            ["ghost", "chef-a", "gone"],
            None,
            "--servers: no OpsWorks CM server named 'ghost', 'gone'",
        ),
        (["chef-a"], "chef-a-nothing", "--backup-id: 'chef-a-nothing' is not a backup of chef-a"),
        (["drill-chef-a-1a2b3c"], None, "--servers: 'drill-chef-a-1a2b3c' is a restore drill's"),
        (["chef-a", "chef-b"], "chef-a-x", "--backup-id: name exactly one server with it"),
        (["chef-b"], "CHEF_A_OK", "is not a backup of chef-b (made while it existed)"),
        (["chef-a"], "CHEF_A_FAILED", "is FAILED; only OK backups restore"),
    ],
)
def test_a_drill_asked_for_by_name_is_checked_naming_the_option(
    names: list[str], backup_id: str | None, message: str
) -> None:
    servers = [
        source("chef-a"),
        source("chef-b"),
        source("drill-chef-a-1a2b3c", tags={DRILL_OF: "chef-a"}),
    ]
    ok, failed = backup("chef-a", 1), backup("chef-a", 2, status="FAILED")
    wanted = {"CHEF_A_OK": ok.backup_id, "CHEF_A_FAILED": failed.backup_id}.get(
        backup_id or "", backup_id
    )

    with pytest.raises(DrillError) as excinfo:
        check_named(servers, [ok, failed], names, wanted)

    assert message in str(excinfo.value)


def test_an_ok_backup_of_the_one_named_server_may_be_asked_for() -> None:
    ok = backup("chef-a", 1)

    check_named([source("chef-a")], [ok], ["chef-a"], ok.backup_id)
    check_named([source("chef-a")], [ok], ["chef-a"], None)
