"""The emulated OpsWorks CM account: servers, backups, tags, events, and how they change in time.

Each public `op_*` method is one API operation: it takes the request parameters (already checked
against the model and against the rules that need only the request, rules.py) and returns the
response body; what it refuses, it refuses for the state of the account. The account is built by
concern: its state, timeline and account-wide operations (account.py), backups (backups.py),
servers (servers.py), on the records of records.py; `OPERATIONS` maps the API's operation names
to the methods.
"""

from __future__ import annotations

from local.emulator.records import (
    PASSING_STATES,
    SERVER_STATUSES,
    Backup,
    EmulatorConfig,
    Server,
    backup_id_for,
    next_window,
)
from local.emulator.servers import ServerOperations

__all__ = [
    "MUTATING_OPERATIONS",
    "OPERATIONS",
    "PASSING_STATES",
    "SERVER_STATUSES",
    "Backend",
    "Backup",
    "EmulatorConfig",
    "Server",
    "backup_id_for",
    "next_window",
]


class Backend(ServerOperations):
    """One emulated account and region: servers (servers.py), backups (backups.py), and the
    account-wide state, limits, events and tags (account.py). Not thread-safe: callers hold
    `lock`."""


OPERATIONS: dict[str, str] = {
    "CreateServer": "op_create_server",
    "DeleteServer": "op_delete_server",
    "DescribeServers": "op_describe_servers",
    "UpdateServer": "op_update_server",
    "StartMaintenance": "op_start_maintenance",
    "RestoreServer": "op_restore_server",
    "CreateBackup": "op_create_backup",
    "DeleteBackup": "op_delete_backup",
    "DescribeBackups": "op_describe_backups",
    "DescribeAccountAttributes": "op_describe_account_attributes",
    "DescribeEvents": "op_describe_events",
    "ListTagsForResource": "op_list_tags_for_resource",
    "TagResource": "op_tag_resource",
    "UntagResource": "op_untag_resource",
}
MUTATING_OPERATIONS = frozenset(
    {
        "CreateServer",
        "DeleteServer",
        "UpdateServer",
        "StartMaintenance",
        "RestoreServer",
        "CreateBackup",
        "DeleteBackup",
        "TagResource",
        "UntagResource",
    }
)
