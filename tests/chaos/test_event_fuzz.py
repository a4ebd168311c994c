"""Manual events fuzzed with hypothesis: bad input is refused naming the field, and changes nothing.

Each example runs the real handler against a fresh emulated account (the fixtures are set up once
per test, so the account and the call log are reset by hand before every example).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from backup_orchestrator.contract.events import InvalidRequestError
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator, ManualClock
from local.emulator.backend import MUTATING_OPERATIONS, Backend
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud

EXISTING = ("chef-prod", "puppet-prod", "chef-idle")
TAGGED = ("chef-prod", "puppet-prod")
MISSING = ("ghost", "chef-gone")
FIELDS = ("servers", "dryRun", "retain", "description")
# Keys that make the event a scheduled one: a different shape, fuzzed elsewhere.
SCHEDULE_KEYS = ("source", "scheduledTime")
NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]{0,39}")


@dataclass
class Case:
    """A fuzzed event and what the fuzzer meant by it."""

    event: dict[str, Any] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
good_names = st.sampled_from(EXISTING + MISSING) | st.from_regex(NAME, fullmatch=True)
bad_names = st.sampled_from(["", "1chef", "bad name", "chef_prod", "-x", "chéf", "a" * 41]) | (
    st.text(max_size=12).filter(lambda s: not NAME.fullmatch(s))
)

VALID: dict[str, st.SearchStrategy[Any]] = {
    "servers": st.none()
    | st.lists(st.sampled_from(EXISTING), min_size=1, max_size=3, unique=True)
    | st.lists(good_names, min_size=1, max_size=4, unique=True),
    "dryRun": st.booleans(),
    "retain": st.none() | st.integers(1, 49),
    "description": st.none() | st.text(max_size=256).filter(str.isprintable),
}
INVALID: dict[str, st.SearchStrategy[Any]] = {
    "servers": st.just([])
    | st.sampled_from(EXISTING).map(lambda name: [name, name])
    | st.lists(bad_names, min_size=1, max_size=3)
    | st.tuples(good_names, bad_names).map(list)
    | st.lists(st.integers() | st.none() | st.booleans(), min_size=1, max_size=2)
    | st.just([f"chef-{i}" for i in range(201)])
    | st.text(max_size=10)
    | st.integers()
    | st.booleans()
    | st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    "dryRun": st.sampled_from(["true", "false", 1, 0, None, 1.0, "yes", [], {}])
    | st.integers()
    | st.text(max_size=5),
    "retain": st.integers(max_value=0)
    | st.integers(min_value=50)
    | st.integers(1, 49).map(str)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.lists(st.integers(1, 49), max_size=2),
    "description": st.text(min_size=257, max_size=300)
    | st.text(min_size=1, max_size=20).filter(lambda s: not s.isprintable())
    | st.integers()
    | st.booleans()
    | st.lists(st.text(max_size=3), max_size=2),
}
unknown_keys = (
    st.sampled_from(["dry_run", "Servers", "server", "DryRun", "retention", "idempotencyKey", "x"])
    | st.text(min_size=1, max_size=12)
).filter(lambda key: key not in FIELDS and key not in SCHEDULE_KEYS)


@st.composite
def manual_events(draw: st.DrawFn) -> Case:
    case = Case()
    for name in FIELDS:
        if not draw(st.booleans()):
            continue
        if draw(st.integers(0, 3)) == 0:
            case.event[name] = draw(INVALID[name])
            case.invalid.append(name)
        else:
            case.event[name] = draw(VALID[name])
    for key in draw(st.lists(unknown_keys, max_size=2, unique=True)):
        if draw(st.integers(0, 2)) == 0:
            case.event[key] = draw(json_values)
            case.invalid.append(key)
    return case


def fresh_account(emulator: Emulator, clock: ManualClock) -> None:
    emulator.backend = Backend(emulator.config, clock)
    emulator.calls.clear()
    for name in EXISTING:
        engine = "Puppet" if name.startswith("puppet") else "ChefAutomate"
        tags = {"opsworks-cm-backup": "enabled"} if name in TAGGED else {}
        emulator.backend.add_server(name, engine=engine, tags=tags)


def mutating(calls: Any) -> list[str]:
    return [c.operation for c in calls if c.operation in MUTATING_OPERATIONS]


def test_fuzzed_manual_events_are_refused_naming_the_field_or_run_safely(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    outcomes: dict[str, int] = {"refused": 0, "unknown server": 0, "dry run": 0, "ran": 0}

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(case=manual_events())
    # One of each kind whatever the generator draws: refused, unknown server, dry run, ran.
    @example(case=Case({"retain": 0}, ["retain"]))
    @example(case=Case({"servers": ["chef-prod", "ghost"]}))
    @example(case=Case({"dryRun": True}))
    @example(case=Case({"servers": ["chef-idle"], "retain": 2}))
    def check(case: Case) -> None:
        # Given a fresh account of three servers, two of them tagged
        fresh_account(emulator, clock)
        before = capture(emulator)

        # When the fuzzed event is sent
        try:
            report = lambda_handler(case.event, FakeLambdaContext())
        except InvalidRequestError as exc:
            refusal: InvalidRequestError | None = exc
        else:
            refusal = None

        # Then a bad event is refused naming a bad field; a good one naming a server that does
        # not exist is refused naming servers; anything else runs; a refusal changes nothing
        calls = emulator.calls[len(before.calls) :]
        named = case.event.get("servers") or []
        names_missing = not case.invalid and any(n not in EXISTING for n in named)
        if refusal is not None:
            message = str(refusal)
            assert "field '" in message
            assert mutating(calls) == [], message
            if case.invalid:
                outcomes["refused"] += 1
                assert any(f"field '{name}" in message for name in case.invalid), message
            else:
                outcomes["unknown server"] += 1
                assert names_missing, message
                assert "field 'servers'" in message, message
                assert "no OpsWorks CM server named" in message, message
            return
        assert not case.invalid, f"{case.event} was accepted"
        assert not names_missing, f"{case.event} ran with a server that does not exist"
        selected = named or TAGGED
        assert sorted(r["serverName"] for r in report["results"]) == sorted(selected)
        # An event naming no servers is a dry run unless it says "dryRun": false.
        dry_run = case.event.get("dryRun", not named)
        assert report["dryRun"] is dry_run, case.event
        if dry_run:
            outcomes["dry run"] += 1
            assert mutating(calls) == []
        else:
            outcomes["ran"] += 1
        check_invariants(before, capture(emulator), [Run(case.event, report)])

    check()

    # Every kind of outcome was exercised
    assert min(outcomes.values()) > 0, outcomes
