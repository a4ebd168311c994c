"""A restore drill's temporary server (drill_servers.py): its name, what it is created with and
started with, and which drill servers are leftovers (the history it may write is in
test_history_budget.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta

import pytest
from hypothesis import example, given

from backup_orchestrator.domain import drill_servers
from backup_orchestrator.domain.drill_servers import (
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
from backup_orchestrator.domain.records import Quota, Server
from tests.support.drilling import (
    DESCRIBED,
    NAMES,
    RUN,
    RUN_IDS,
    SERVER_NAME,
    drill_plan,
    weekly,
)
from tests.support.planning import NOW, backup
from tests.support.sizes import largest_fleet, long_name

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


def test_each_drill_input_is_one_servers_whatever_the_fleet() -> None:
    # Given every server of the largest fleet due for a drill at once, each at the service's
    # longest (a 40-character name, a long role and profile, 16 subnets and security groups)
    servers = [
        weekly(
            long_name(n),
            described={
                "SubnetIds": [f"subnet-{n:017x}{i:02d}"[:24] for i in range(16)],
                "SecurityGroupIds": [f"sg-{n:017x}{i:02d}"[:20] for i in range(16)],
                "InstanceProfileArn": f"{DESCRIBED['InstanceProfileArn']}-{'x' * 200}",
                "ServiceRoleArn": f"{DESCRIBED['ServiceRoleArn']}-{'x' * 200}",
            },
        )
        for n in range(largest_fleet())
    ]
    plan = drill_plan(servers, quota=Quota(used=0, maximum=2 * len(servers)))

    # When each drill's execution input is made
    sizes = [
        len(
            json.dumps(
                drill_servers.execution_input(
                    start,
                    run_id=RUN,
                    now=NOW,
                    poll_seconds=60,
                    deadline_seconds=21_600,
                    execution_arn=f"arn:aws:states:eu-west-1:123456789012:execution:Drill:{start.execution}",
                )
            )
        )
        for start in plan.starts
    ]

    # Then each holds its own server only: a few KB, far under Step Functions' 256 KiB
    print(
        f"\nlargest drill input of {len(plan.starts)} drills started at once: {max(sizes):,} bytes"
    )
    assert len(plan.starts) == len(servers)
    assert max(sizes) < 8_000
    assert max(sizes) - min(sizes) < 100
