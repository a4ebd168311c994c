"""Restore drills, decided (drills.py, drill_servers.py): who is due, who gets a slot, from which
backup, what the drill server is created with, and which drill servers are leftovers."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from backup_orchestrator import drill_servers, drills
from backup_orchestrator.drill_servers import (
    DRILL_BACKUP,
    DRILL_EXECUTION,
    DRILL_EXPIRES,
    DRILL_OF,
    Start,
    create_parameters,
    execution_name,
    expires_at,
    leftovers,
    running,
    server_name,
    source_of,
)
from backup_orchestrator.drills import (
    FREQUENCY_TAG,
    NOT_RUN,
    DrillError,
    Frequency,
    LastDrill,
    Roles,
    check_named,
    plan,
)
from backup_orchestrator.models import Backup, Quota, Server
from backup_orchestrator.tracker import HISTORY_BUDGET, RETRY_EVENTS, SKIP_EVENTS, TASK_RETRIES
from tests.unit.planning import NOW, SELECTED, backup, server

RUN = "scheduled-20260105T120000Z"
SELECT = ("opsworks-cm-backup", "enabled")
SERVICE_ROLE = "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"
PROFILE = "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"
# What DescribeServers gives for a Chef Automate server (the fields a drill copies and more).
DESCRIBED: dict[str, Any] = {
    "Engine": "ChefAutomate",
    "EngineModel": "Single",
    "EngineVersion": "2019",
    "InstanceType": "m5.large",
    "InstanceProfileArn": PROFILE,
    "ServiceRoleArn": SERVICE_ROLE,
    "SubnetIds": ["subnet-1"],
    "SecurityGroupIds": ["sg-1"],
    "KeyPair": "ops",
    "PreferredMaintenanceWindow": "Mon:03:00",
    "PreferredBackupWindow": "02:00",
    "AssociatePublicIpAddress": False,
    "BackupRetentionCount": 3,
    "DisableAutomatedBackup": False,
    "CustomDomain": "chef.example.com",
    "Endpoint": "chef.example.com",
    "Status": "HEALTHY",
}
# An account with room for drills: none of its ten servers exists yet.
ROOM = Quota(used=0, maximum=10)
SERVER_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9\-]*")
NAMES = st.from_regex(r"[a-zA-Z][a-zA-Z0-9\-]{0,39}", fullmatch=True)
RUN_IDS = st.one_of(st.just(RUN), st.from_regex(r"manual-[A-Za-z0-9]{1,32}", fullmatch=True))


def source(
    name: str,
    status: str = "HEALTHY",
    *,
    tags: dict[str, str] | None = None,
    described: dict[str, Any] | None = None,
    tags_error: str | None = None,
) -> Server:
    """A selected server as DescribeServers and its tags give it."""
    plain = server(name, status, tags=tags, tags_error=tags_error)
    return dataclasses.replace(
        plain, described={**DESCRIBED, "ServerName": name, **(described or {})}
    )


def weekly(name: str, **kwargs: Any) -> Server:
    return source(name, tags={**SELECTED, FREQUENCY_TAG: "weekly"}, **kwargs)


def drill_plan(
    servers: list[Server],
    backups: list[Backup] | None = None,
    *,
    quota: Quota = ROOM,
    **overrides: Any,
) -> drills.Plan:
    values: dict[str, Any] = {
        "now": NOW,
        "run_id": RUN,
        "select_tag": SELECT,
        "default": Frequency.OFF,
        "last": {},
        "running": {},
        "quota": quota,
    }
    values.update(overrides)
    if backups is None:
        backups = [backup(s.name, 1) for s in servers]
    return plan(servers, backups, **values)


def started(result: drills.Plan) -> list[str]:
    return [s.source.name for s in result.starts]


def skipped(result: drills.Plan) -> dict[str, str]:
    return {s.source: s.reason for s in result.skips}


# ---- names --------------------------------------------------------------------------------


@given(NAMES, RUN_IDS)
@example("c" * 40, RUN)  # the longest source: cut short, the name is exactly 40 long
@example("chef-production-eu-west-1-", "manual-x")  # cut just before a hyphen
def test_a_drill_server_name_is_valid_for_opsworks_cm_and_plainly_a_drill(
    source_name: str, run_id: str
) -> None:
    name = server_name(source_name, run_id)

    assert SERVER_NAME.fullmatch(name) and len(name) <= 40
    assert name.startswith("drill-")
    assert name == server_name(source_name, run_id)  # a retried run names it the same


def test_a_long_source_is_cut_to_the_whole_forty_characters() -> None:
    # As much of the source as fits, so that the operator can tell which server it restores.
    name = server_name("c" * 40, RUN)

    assert len(name) == 40
    assert name.startswith("drill-" + "c" * 27 + "-")


def test_drill_server_names_differ_by_source_and_run_even_when_cut_short() -> None:
    long = "chef-production-eu-west-1-primary-a"
    other = "chef-production-eu-west-1-primary-b"

    names = {server_name(long, RUN), server_name(other, RUN), server_name(long, "manual-x")}

    assert len(names) == 3
    assert server_name("chef-prod", RUN).startswith("drill-chef-prod-")


@given(NAMES, RUN_IDS)
def test_an_execution_name_fits_step_functions_and_names_its_server(
    source_name: str, run_id: str
) -> None:
    name = execution_name(run_id, source_name)

    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name)
    assert source_of(name) == source_name


@pytest.mark.parametrize("name", ["run-1", "scheduled-1-abc", "manual--x", "tracker-1-1a2b3c4d"])
def test_other_executions_name_no_server(name: str) -> None:
    assert source_of(name) is None


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


# ---- what a drill creates -------------------------------------------------------------------


def test_the_drill_server_copies_the_source_but_its_domain_and_makes_no_backups() -> None:
    chef = weekly("chef-a")
    restored = backup("chef-a", 1)
    start = Start(chef, restored, server_name("chef-a", RUN), execution_name(RUN, "chef-a"))
    expires = NOW + timedelta(hours=6)

    parameters = create_parameters(start, expires=expires, execution_arn="arn:x:execution:d:e")

    copied = {k: v for k, v in DESCRIBED.items() if k in drill_servers.COPIED}
    assert parameters == {
        **copied,
        "KeyPair": "ops",
        "ServerName": start.drill_server,
        "BackupId": restored.backup_id,
        "DisableAutomatedBackup": True,
        "Tags": [
            {"Key": DRILL_OF, "Value": "chef-a"},
            {"Key": DRILL_BACKUP, "Value": restored.backup_id},
            {"Key": DRILL_EXPIRES, "Value": "2026-01-05T18:00:00Z"},
            {"Key": DRILL_EXECUTION, "Value": "arn:x:execution:d:e"},
        ],
    }
    # Not the source's CustomDomain (the drill would answer for it), nor its selection tag.
    assert "CustomDomain" not in parameters


def test_a_source_without_a_key_pair_gives_none() -> None:
    chef = weekly("chef-a", described={"KeyPair": ""})
    start = Start(chef, backup("chef-a", 1), "drill-chef-a-1", "x")

    assert "KeyPair" not in create_parameters(start, expires=NOW)


def test_a_drill_is_over_at_the_latest_after_both_waits_the_cleanup_and_a_margin() -> None:
    # Two hours for the source to be idle, two for the restore, the cleanup hour, a quarter of
    # an hour for the calls, and half an hour's margin.
    assert expires_at(NOW, 7200) == NOW + timedelta(hours=2 + 2 + 1, minutes=15 + 30)


def test_the_poll_slows_only_when_a_drill_would_not_fit_its_history() -> None:
    assert drill_servers.drill_poll_seconds(7200, 60) == 60
    assert drill_servers.drill_poll_seconds(60, 1) == 1  # a short deadline waits less to clean up
    slower = drill_servers.drill_poll_seconds(21_600, 10)
    assert slower > 10
    limit = HISTORY_BUDGET
    assert drill_servers.drill_history(drill_servers.drill_polls(21_600, slower)) <= limit
    assert drill_servers.drill_history(drill_servers.drill_polls(21_600, slower - 1)) > limit


# ---- leftovers and drills under way ---------------------------------------------------------

MACHINE = "arn:aws:states:us-east-1:123456789012:execution:drill:"


def drill_server(
    name: str = "drill-chef-a-1a2b3c",
    *,
    expires: str = "2026-01-05T18:00:00Z",
    execution: str | None = f"{MACHINE}{RUN}-chef-a",
    status: str = "HEALTHY",
) -> Server:
    tags = {DRILL_OF: "chef-a", DRILL_BACKUP: "chef-a-1", DRILL_EXPIRES: expires}
    if execution is not None:
        tags[DRILL_EXECUTION] = execution
    return Server(name, status, tags=tags)


@pytest.mark.parametrize(
    ("server_", "running_", "reason"),
    [
        (drill_server(expires="2026-01-05T11:59:59Z"), None, "should have ended by 2026-01-05"),
        (drill_server(expires="2026-01-05T12:00:00Z"), None, "should have ended by 2026-01-05"),
        (drill_server(expires="soon"), None, "drill-expires='soon' is not a time"),
        (drill_server(), [], f"its drill (execution {RUN}-chef-a) has ended"),
        (drill_server(status="CONNECTION_LOST", expires="2000-01-01T00:00:00Z"), None, "ended"),
    ],
)
def test_a_drill_server_whose_drill_is_over_is_a_leftover(
    server_: Server, running_: list[str] | None, reason: str
) -> None:
    [found] = leftovers([server_], NOW, machine=MACHINE, running_executions=running_)

    assert (found.server, found.source) == (server_, "chef-a")
    assert reason in found.reason


@pytest.mark.parametrize(
    ("server_", "running_"),
    [
        (drill_server(), [f"{MACHINE}{RUN}-chef-a"]),  # its execution runs
        (drill_server(), None),  # unknown executions: only the expiry counts
        (drill_server(execution=None), []),  # made by owcm-backup drill, not expired
        (drill_server(execution="arn:other:execution:x:y"), []),  # another deployment's
        (drill_server(status="DELETING", expires="2000-01-01T00:00:00Z"), []),
        (Server("chef-b", "HEALTHY", tags={DRILL_OF: "chef-a"}), []),  # not named like one
    ],
    ids=["running", "unknown", "cli", "other stack", "deleting", "not a drill name"],
)
def test_a_drill_server_under_way_or_going_is_no_leftover(
    server_: Server, running_: list[str] | None
) -> None:
    assert leftovers([server_], NOW, machine=MACHINE, running_executions=running_) == []


def test_a_drill_server_without_its_expiry_tag_is_a_leftover() -> None:
    tagless = Server("drill-chef-a-1a2b3c", "HEALTHY", tags={DRILL_OF: "chef-a"})

    [found] = leftovers([tagless], NOW)

    assert "drill-expires='' is not a time, so its drill cannot be running" in found.reason


def test_every_leftover_among_other_servers_is_found() -> None:
    under_way = drill_server("drill-chef-a-000001", execution=None)
    over = drill_server("drill-chef-a-000002", expires="2026-01-05T11:00:00Z")
    servers = [Server("chef-a", "HEALTHY"), under_way, over, drill_server("drill-chef-a-000003")]

    found = leftovers(servers, NOW, machine=MACHINE, running_executions=[])

    assert [f.server.name for f in found] == ["drill-chef-a-000002", "drill-chef-a-000003"]


def test_the_drill_input_is_what_the_state_machine_reads() -> None:
    chef = weekly("chef-a")
    restored = backup("chef-a", 1.5)
    start = Start(chef, restored, server_name("chef-a", RUN), execution_name(RUN, "chef-a"))

    payload = drill_servers.execution_input(
        start, run_id=RUN, now=NOW, poll_seconds=60, deadline_seconds=1800, execution_arn="arn:e"
    )

    assert payload == {
        "runId": RUN,
        "startedAt": "2026-01-05T12:00:00+00:00",
        "sourceServer": "chef-a",
        "drillServer": start.drill_server,
        "backupId": restored.backup_id,
        "backupAgeSeconds": 129_600,
        "pollSeconds": 60,
        "deadlineSeconds": 1800,
        # The cleanup waits at most the deadline when that is under an hour.
        "cleanupSeconds": 1800,
        # The history item is kept 400 days.
        "expiration": int(NOW.timestamp()) + 400 * 86_400,
        "create": create_parameters(start, expires=expires_at(NOW, 1800), execution_arn="arn:e"),
    }
    assert drill_servers.cleanup_seconds(7200) == 3600


def test_the_worst_case_history_counts_every_retry_and_every_skipped_metric() -> None:
    no_polls = drill_servers.drill_history(0)
    one_poll = drill_servers.drill_history(1)

    assert no_polls == (
        drill_servers.DRILL_EVENTS
        + drill_servers.DRILL_TASKS * RETRY_EVENTS * TASK_RETRIES
        + drill_servers.SKIPPABLE * SKIP_EVENTS
    )
    assert one_poll - no_polls == (
        drill_servers.POLL_EVENTS + drill_servers.REDELETE_EVENTS + 2 * RETRY_EVENTS * TASK_RETRIES
    )


def test_drills_under_way_are_their_executions_and_servers() -> None:
    servers = [
        drill_server("drill-chef-a-1a2b3c"),
        dataclasses.replace(drill_server("drill-chef-b-1a2b3c"), tags={DRILL_OF: "chef-b"}),
        dataclasses.replace(drill_server("drill-chef-c-1a2b3c"), tags={DRILL_OF: "chef-c"}),
        Server("drill-chef-d-1a2b3c", "DELETING", tags={DRILL_OF: "chef-d"}),
    ]

    found = running(servers, [f"{MACHINE}{RUN}-chef-e", f"{MACHINE}other"], {"drill-chef-c-1a2b3c"})

    assert found == {
        "chef-a": "drill server drill-chef-a-1a2b3c",
        "chef-b": "drill server drill-chef-b-1a2b3c",
        "chef-e": f"execution {RUN}-chef-e",
    }
