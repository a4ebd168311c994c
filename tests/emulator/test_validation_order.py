"""Conformance: a request is checked against the API model before anything of the account is read.

Every constraint of every operation's input, at any depth, is broken once (the cases come from
the model, see model_requests.py) in a request aimed where the account would refuse it for its
state: at resources that do not exist, or at a server BACKING_UP, a backup IN_PROGRESS, a backup
being deleted. A control first sends the valid request there and sees the state error (or, for
an operation the emulator does not implement, UnsupportedOperationException); then the broken one
must get ValidationException in the service's words, and leave the account as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, Shape, StructureShape

from local.emulator import Emulator, InProcessEndpoint, ManualClock
from local.emulator.backend import Backend, EmulatorConfig
from local.emulator.shapes import service_model
from tests.emulator.model_requests import UNBREAKABLE_PATTERNS, Breach, all_breaches, sample

BREACHES = all_breaches()
STATE_REFUSALS = frozenset(
    {
        "InvalidStateException",
        "LimitExceededException",
        "ResourceAlreadyExistsException",
        "ResourceNotFoundException",
        "UnsupportedOperationException",
    }
)
# A member the model types as a bare String but whose values the service knows.
SERVICE_VALUES = {"Engine": "ChefAutomate"}
MESSAGE = re.compile(
    r"(?s)(\d+) validation errors? detected: Value(?: null| '.*')? at '[\w.]+' "
    r"failed to satisfy constraint: Member must .+"
)
# Client-side validation off: the requests must reach the service to be refused there.
UNCHECKED = Config(
    parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1}
)

Service = tuple[Emulator, Any]


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    emulator = Emulator(clock=ManualClock(), rate=0, strict=True)
    with InProcessEndpoint(emulator):
        session: Any = boto3.session.Session(region_name="us-east-1")
        yield emulator, session.client("opsworkscm", config=UNCHECKED)


def nothing_there(emulator: Emulator, client: Any) -> dict[str, str]:
    """An empty account with no room: every resource a request names is missing."""
    emulator.backend = Backend(
        EmulatorConfig(server_limit=0, manual_backup_limit=0), emulator.backend.clock
    )
    return {
        "ServerName": "ghost",
        "BackupId": "ghost-20250101000000000",
        "AWSOpsWorksCMResourceArn": "arn:aws:opsworks-cm:us-east-1:123456789012:server/ghost/0",
    }


def all_busy(emulator: Emulator, client: Any) -> dict[str, str]:
    """A server BACKING_UP, its new backup IN_PROGRESS, and an older backup being deleted."""
    emulator.backend = Backend(EmulatorConfig(server_limit=1), emulator.backend.clock)
    emulator.backend.add_server("chef-busy")
    older = emulator.backend.add_backup("chef-busy", emulator.backend.clock.now() - timedelta(1))
    client.delete_backup(BackupId=older.backup_id)
    running = client.create_backup(ServerName="chef-busy")["Backup"]["BackupId"]
    return {"ServerName": "chef-busy", "BackupId": running, "AWSOpsWorksCMResourceArn": older.arn}


HOSTILE_ACCOUNTS: tuple[Callable[[Emulator, Any], dict[str, str]], ...] = (nothing_there, all_busy)


def valid_request(operation: str, resources: dict[str, str]) -> dict[str, Any]:
    """The smallest valid request, aimed at `resources` (by the shape that names them)."""
    shape = service_model().operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    request: dict[str, Any] = sample(shape)
    for name, member in shape.members.items():
        if member.name in resources:
            request[name] = resources[member.name]
        elif name in SERVICE_VALUES:
            request[name] = SERVICE_VALUES[name]
    return request


def answer(client: Any, operation: str, request: dict[str, Any]) -> tuple[str, str]:
    try:
        getattr(client, xform_name(operation))(**request)
    except ClientError as error:
        return str(error.response["Error"]["Code"]), str(error.response["Error"]["Message"])
    return "OK", ""


def account_state(emulator: Emulator) -> Any:
    backend = emulator.backend
    return (
        {name: (s.status, dict(s.tags)) for name, s in backend.servers.items()},
        {name: (b.status, dict(b.tags)) for name, b in backend.backups.items()},
    )


def assert_in_order(message: str, fragments: tuple[str, ...]) -> None:
    rest = message
    for fragment in fragments:
        assert fragment in rest, f"{fragment[:200]!r} not in {message[:600]!r}"
        rest = rest.split(fragment, 1)[1]


def assert_service_format(message: str) -> None:
    found = MESSAGE.fullmatch(message)
    assert found is not None, message[:600]
    count = int(found.group(1))
    assert message.startswith(f"{count} validation {'error' if count == 1 else 'errors'} ")
    assert message.count(" failed to satisfy constraint: Member must ") == count


@pytest.mark.parametrize("breach", BREACHES, ids=str)
def test_a_request_breaking_the_model_is_refused_before_the_account_is_read(
    service: Service, breach: Breach
) -> None:
    emulator, client = service
    refused_for_state = []
    for account in HOSTILE_ACCOUNTS:
        request = valid_request(breach.operation, account(emulator, client))
        control, _ = answer(client, breach.operation, request)
        if control not in STATE_REFUSALS:
            continue
        refused_for_state.append(account.__name__)
        before = account_state(emulator)

        code, message = answer(client, breach.operation, breach.apply(request))

        assert code == "ValidationException", f"{account.__name__}: {code} ({control} valid)"
        assert_service_format(message)
        assert_in_order(message, breach.expected)
        assert account_state(emulator) == before
    assert refused_for_state, f"no account refuses a valid {breach.operation} for its state"


def _constrained_paths(shape: Shape, path: str, required: bool) -> Iterator[tuple[str, str]]:
    """(path, constraint) of every constrained member under `shape`, read from the model
    apart from model_requests, to check that its cases miss nothing."""
    if required:
        yield path, "required"
    meta = shape.metadata
    for key in ("min", "max", "pattern", "enum"):
        breakable = key != "pattern" or meta.get(key) not in UNBREAKABLE_PATTERNS
        if key in meta and breakable and not (key == "min" and meta[key] == 0):
            yield path, key
    if isinstance(shape, StructureShape):
        for name, member in shape.members.items():
            camel = name[:1].lower() + name[1:]
            inner = f"{path}.{camel}" if path else camel
            yield from _constrained_paths(member, inner, name in shape.required_members)
    elif isinstance(shape, ListShape):
        if shape.member.type_name in ("structure", "list", "map"):
            yield from _constrained_paths(shape.member, f"{path}.1.member", False)
        else:
            for _, key in _constrained_paths(shape.member, path, False):
                yield path, f"member-{key}"


def test_the_cases_cover_every_constraint_of_every_operation() -> None:
    model = service_model()
    inputs = {name: model.operation_model(name).input_shape for name in model.operation_names}
    expected = {
        (operation, path, constraint)
        for operation, shape in inputs.items()
        if shape is not None
        for path, constraint in _constrained_paths(shape, "", False)
    }
    covered = {(b.operation, b.path, b.constraint) for b in BREACHES}

    assert covered == expected
    left_out = set(inputs) - {operation for operation, _, _ in covered}
    assert left_out == {"DescribeAccountAttributes"}  # the only one with an empty input
    assert isinstance(inputs["DescribeAccountAttributes"], StructureShape)
    assert not inputs["DescribeAccountAttributes"].members
