"""The restore drill's calls to the service (its function, handlers/drill.py): one small task per
state of the drill state machine (infra/constructs/drill.py), each through the adapter and
ending in an answer or a named error (contract/task_errors.py) the definition catches.

Every rule of the drill stays in the state machine's choices; what moves here is only how each
question is asked: a server's status, the account's server slots, the creation from the backup
(never with automated backups of its own), whether a server is this very execution's (its tag
drill-execution names it), and its deletion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.task_errors import NAMED, BadTaskInput, ServerNotFound
from backup_orchestrator.domain.drill_servers import COPIED, DRILL_EXECUTION, OPTIONAL
from backup_orchestrator.domain.records import Server
from backup_orchestrator.run.task_answers import named_errors

# What CreateServer may be given from the drill's input, besides DisableAutomatedBackup.
CREATE_KEYS = (*COPIED, *OPTIONAL, "ServerName", "BackupId", "Tags")


def _field(event: Mapping[str, Any], name: str) -> Any:
    value = event.get(name)
    if value in (None, ""):
        raise BadTaskInput(f"invalid drill task input: {name} is missing")
    return value


def status(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """{"status", "reasons": [StatusReason] or []} of the server `serverName`."""
    found = service.server_status(_field(event, "serverName"))
    if found is None:
        raise ServerNotFound(f"no server named {event['serverName']}")
    state, reason = found
    return {"status": state, "reasons": [reason] if reason else []}


def slots(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """The account's servers: {"used", "maximum"} (ServerLimit)."""
    quota = service.server_quota()
    return {"used": quota.used, "maximum": quota.maximum}


def _is_ours(service: OpsWorksCM, execution: str) -> Callable[[Server], bool]:
    def ours(server: Server) -> bool:
        return service.tags(server).get(DRILL_EXECUTION) == execution

    return ours


def create(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """CreateServer from the input's `create` (only the keys a drill copies), never with
    automated backups of its own. After a lost answer, a server of the name counts as created
    only when it carries this execution's tag."""
    given = _field(event, "create")
    parameters = {key: given[key] for key in CREATE_KEYS if key in given}
    parameters["DisableAutomatedBackup"] = True
    _field(parameters, "ServerName")
    service.create_server(parameters, ours=_is_ours(service, _field(event, "execution")))
    return {"created": True}


def owner(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """{"ours": whether the server `serverName` carries the tag drill-execution naming this very
    execution}; ServerNotFound when there is no such server."""
    name, ours = _field(event, "serverName"), _is_ours(service, _field(event, "execution"))
    found = service.server(name)
    if found is None:
        raise ServerNotFound(f"no server named {name}")
    return {"ours": ours(found)}


def delete(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """DeleteServer: {"started": False} when it was already gone or being deleted."""
    return {"started": service.delete_server(_field(event, "serverName"))}


ACTIONS: dict[str, Callable[[Mapping[str, Any], OpsWorksCM], dict[str, Any]]] = {
    "status": status,
    "slots": slots,
    "create": create,
    "owner": owner,
    "delete": delete,
}


def drill_task(event: Mapping[str, Any], service: OpsWorksCM) -> dict[str, Any]:
    """Run the task the event's `action` names."""
    action = ACTIONS.get(str(event.get("action")))
    if action is None:
        raise BadTaskInput(
            f"invalid drill task input: action must be one of {', '.join(ACTIONS)}, "
            f"not {event.get('action')!r}"
        )
    with named_errors(NAMED):
        return action(event, service)
