"""Safety rule 16 in the adapter (opsworkscm.py), against the emulator: OpsWorks CM documents
ResourceNotFoundException as "does not exist, or access was denied", so no "not found" is taken
as "gone" until the account's listing agrees; one the listing contradicts is AccessDenied,
counted, and nothing is recorded gone. Where the resource truly is gone, nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from backup_orchestrator.aws.errors import AccessDenied
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.domain.records import GONE
from local.emulator import Emulator
from local.emulator.errors import AccessDeniedException
from local.emulator.faults import BeforeCall, DeniedAsNotFound, account_change
from tests.conftest import add_own_backup

QUICK = RetryPolicy(attempts=2, base_seconds=0, cap_seconds=0)


@pytest.fixture
def service(opsworkscm: Any) -> OpsWorksCM:
    return OpsWorksCM(opsworkscm, QUICK)


def deny(emulator: Emulator, operation: str, *resources: str) -> DeniedAsNotFound:
    fault = DeniedAsNotFound(emulator, [operation], resources)
    emulator.faults.append(fault)
    return fault


def vanish_before(emulator: Emulator, operation: str, server: str) -> None:
    """The server is deleted right before the next `operation`: truly gone."""
    emulator.faults.append(
        BeforeCall(operation, account_change(emulator, lambda b: b.servers.pop(server)))
    )


def test_tags_denied_as_not_found_fail_the_server_with_the_reason_not_gone(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    deny(emulator, "ListTagsForResource", "chef-a")

    [server] = service.with_tags(service.servers())

    assert server.status != GONE
    assert server.tags_error is not None and "access may be denied" in server.tags_error
    assert "ListTagsForResource" in server.tags_error
    assert service.denied == 1


def test_tags_of_a_server_truly_gone_make_it_gone_as_before(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    listed = service.servers()
    vanish_before(emulator, "ListTagsForResource", "chef-a")

    [server] = service.with_tags(listed)

    assert (server.status, server.tags_error, service.denied) == (GONE, None, 0)


def test_a_server_read_by_name_denied_is_access_denied(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("drill-a")
    deny(emulator, "DescribeServers", "drill-a")

    with pytest.raises(AccessDenied, match="DescribeServers for drill-a"):
        service.server_status("drill-a")
    assert service.denied == 1
    assert service.server_status("drill-gone") is None
    assert service.denied == 1


def test_a_backup_read_by_id_denied_is_access_denied(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    deny(emulator, "DescribeBackups", old)

    with pytest.raises(AccessDenied, match=f"to DescribeBackups for {old}, which"):
        service.backup(old)
    assert service.backup("chef-a-20200101000000000") is None


def test_a_deletion_denied_as_not_found_is_a_failed_deletion_and_the_backup_stays(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    deny(emulator, "DeleteBackup", old)

    with pytest.raises(AccessDenied, match=f"DeleteBackup for {old}"):
        service.delete_backup(old)
    assert emulator.backend.backups[old].status == "OK"
    assert service.denied == 1


def test_a_deletion_whose_confirming_read_is_denied_too_is_not_taken_as_done(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    emulator.faults.append(DeniedAsNotFound(emulator, ["DeleteBackup", "DescribeBackups"], [old]))

    with pytest.raises(AccessDenied):
        service.delete_backup(old)
    assert emulator.backend.backups[old].status == "OK"


def test_a_server_deletion_denied_as_not_found_leaves_it_and_says_so(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("drill-a")
    deny(emulator, "DeleteServer", "drill-a")

    with pytest.raises(AccessDenied):
        service.delete_server("drill-a")
    assert emulator.backend.servers["drill-a"].status == "HEALTHY"


def test_deleting_what_is_truly_gone_is_still_already_gone(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    assert service.delete_backup("chef-a-20200101000000000") is False
    assert service.delete_server("drill-gone") is False
    assert service.denied == 0


def test_a_server_found_by_name_is_the_one_described(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a", status="UNHEALTHY")

    found = service.server("chef-a")

    assert found is not None
    assert (found.name, found.status) == ("chef-a", "UNHEALTHY")
    assert found.arn == emulator.backend.servers["chef-a"].arn
    assert service.server_status("chef-a") == ("UNHEALTHY", "")


def test_a_backup_found_by_id_is_the_one_described(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)

    found = service.backup(old)

    assert found is not None and (found.backup_id, found.status) == (old, "OK")


def test_listings_say_what_the_account_holds(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)

    assert service.server_listed("chef-a") and not service.server_listed("chef-b")
    assert service.backup_listed(old) and not service.backup_listed(old + "0")


def test_the_denial_names_the_operation_and_the_resource(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    deny(emulator, "ListTagsForResource", "chef-a")

    [server] = service.with_tags(service.servers())

    assert server.tags_error == (
        "OpsWorks CM answered ResourceNotFoundException to ListTagsForResource for chef-a, which "
        "the account's listing still shows: access may be denied (a service control policy, a "
        "permissions boundary or the role)"
    )


def test_a_listing_that_fails_while_confirming_fails_the_server_with_its_reason(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    listed = service.servers()
    deny(emulator, "ListTagsForResource", "chef-a")

    def refuse_listing(operation: str, params: dict[str, Any]) -> Any:
        if operation == "DescribeServers" and not params:
            return AccessDeniedException("no listing for you")
        return None

    emulator.faults.append(refuse_listing)

    [server] = service.with_tags(listed)

    assert server.status != GONE
    assert server.tags_error is not None and "no listing for you" in server.tags_error
    assert service.denied == 0


def test_a_deletion_of_a_backup_already_being_deleted_is_not_this_one_s(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    emulator.config.delete_seconds = 10**6
    emulator.backend.op_delete_backup({"BackupId": old}, "someone")

    assert service.delete_backup(old) is False
    assert service.denied == 0


def test_each_denial_is_counted(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.backend.add_server("chef-a")
    emulator.backend.add_server("chef-b")
    deny(emulator, "DescribeServers", "chef-a", "chef-b")

    for name in ("chef-a", "chef-b"):
        with pytest.raises(AccessDenied):
            service.server(name)

    assert service.denied == 2


def test_a_deletion_started_is_said_started(emulator: Emulator, service: OpsWorksCM) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    emulator.backend.add_server("drill-a")

    assert service.delete_backup(old) is True
    assert service.delete_server("drill-a") is True
    assert emulator.backend.backups[old].status == "DELETING"
