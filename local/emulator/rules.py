"""The service's own rules for a request that its API model does not state and that need no state.

They run right after the model's constraints and before the account is read, so a request that
breaks one is refused the same way whatever the account holds. Rules that need the account (a
backup that must be OK to seed a server, a backup of another server, the tags a resource already
has counting toward its 50) stay with the operations, in backups.py, servers.py and account.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from local.emulator import tags as tag_rules
from local.emulator.errors import ValidationException
from local.emulator.records import ENGINES


def check_engine(engine: str) -> None:
    """Raises ValidationException for an engine the service does not run (the model says only
    `String`)."""
    if engine not in ENGINES:
        raise ValidationException(
            f"Engine '{engine}' is not supported; use one of: {', '.join(ENGINES)}."
        )


def _tags(params: dict[str, Any]) -> None:
    # The reference's tag rules: trimmed keys not empty nor repeated, 127/255 characters (the
    # model allows 128/256), at most 50 in one request.
    tag_rules.check_count(tag_rules.normalize(params.get("Tags") or []))


def _create_server(params: dict[str, Any]) -> None:
    check_engine(params["Engine"])
    _tags(params)


def _update_server(params: dict[str, Any]) -> None:
    # UpdateServer's member is a plain Integer in the model; CreateServer's has min 1.
    if params.get("BackupRetentionCount", 1) < 1:
        raise ValidationException("BackupRetentionCount must be at least 1.")


_RULES: dict[str, Callable[[dict[str, Any]], None]] = {
    "CreateBackup": _tags,
    "CreateServer": _create_server,
    "TagResource": _tags,
    "UpdateServer": _update_server,
}


def check_request(operation: str, params: dict[str, Any]) -> None:
    """Raises ValidationException if `params`, already valid for the model, break a rule of
    the service that needs nothing but the request."""
    rule = _RULES.get(operation)
    if rule is not None:
        rule(params)
