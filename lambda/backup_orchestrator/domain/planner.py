"""The pure planner: fleet snapshot + quota + policy in, plan out. No I/O, no clock.

The manual-backup limit is per account, so a run is planned across the whole fleet:
1. select the servers (by name, or by tag) and give each its part: back up; follow the backup an
   earlier attempt of this run started; nothing (the server is gone, or a backup this product
   started is still running); or fail with the reason (a tag that cannot be read or parsed, a
   state that refuses backups, no room);
2. start as many backups as the limit allows: a server that can lose one of its own backups now
   frees the slot its new backup takes, so it always fits; the servers that cannot share the
   room left, most in need first, and one that does not fit never keeps out one that does. A
   later try of the slot counts the room still being freed for the servers waiting for it (the
   deletions an earlier try made, which the service may count until they end) as theirs, and
   gives them the room first (room.py);
3. share the limit fairly among the servers of the run (water-filling), so the account's
   steady state fits under it;
4. split each server's surplus into deferred deletions (applied once its new backup is OK) and
   only as many immediate deletions as the new backups need now.

A server may lose only what the safety rules allow: manual backups that are OK or FAILED, made while
that very server existed (rule 11), by this product unless pruning all manual backups is opted
in (rule 3), and never its newest OK manual backup before a newer one is OK (rule 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

from backup_orchestrator.domain import reasons, retention, room, sharing
from backup_orchestrator.domain.drill_servers import is_drill_server
from backup_orchestrator.domain.records import (
    BACKUP_ALLOWED_STATES,
    BUSY_STATES,
    GONE,
    Backup,
    PruneScope,
    Quota,
    Server,
)
from backup_orchestrator.domain.retention import Kept
from backup_orchestrator.domain.sharing import Candidate
from backup_orchestrator.domain.tiers import Retention, Tier

ADOPTED = "backup started by an earlier attempt of this run; it is followed now"
DRILL_SERVER = "a restore drill's temporary server: never backed up (it is deleted after its drill)"


@dataclass(frozen=True)
class Policy:
    """What the run was asked to do. `servers` names servers explicitly (manual run)."""

    select_tag: tuple[str, str]
    retention: Retention
    prune_scope: PruneScope = PruneScope.OWN
    servers: tuple[str, ...] | None = None
    # An explicit retention for this run (manual event) wins over server tags and the default.
    retention_override: Retention | None = None
    # This run's id: a backup carrying it was started by an earlier attempt of the same run and
    # is followed, never made a second time. A scheduled run's id holds its slot, which decides
    # the tier of the backups it makes, in the schedule's time zone `zone` (tiers.py).
    run_id: str | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # A retry of a scheduled slot: only these of the tag-selected servers.
    within: tuple[str, ...] | None = None
    # Whether a busy server is tried again later in the slot (a scheduled run whose retry window
    # is still open), and whether this run is itself such a later try.
    retry_busy: bool = False
    retried: bool = False
    # Of the servers a retry is for, those waiting for room an earlier try of the slot made for
    # them (deletions the service may still count): that room is theirs (room.py).
    waiting_for_room: tuple[str, ...] = ()


class Action(StrEnum):
    CREATE = "create"
    # An earlier attempt of this run started the server's backup: follow it.
    ADOPT = "adopt"
    # The server needs nothing this slot: it is gone, or this product's backup is still running.
    NOTHING = "nothing"
    # The server is busy; a later run in the slot tries it again.
    RETRY = "retry"
    # The server should have been backed up and will not be: the reason says why.
    FAIL = "fail"


@dataclass(frozen=True)
class Deletion:
    backup_id: str
    server_name: str
    reason: str


@dataclass
class ServerPlan:
    server_name: str
    action: Action
    reason: str
    # The backup an earlier attempt of this run started (ADOPT).
    backup_id: str | None = None
    retain_asked: int | None = None
    retain_granted: int | None = None
    # The tiers asked and granted (the granted ones once the backups have accumulated), and the
    # tier of the backup this run makes (or follows).
    tiers_asked: Retention | None = None
    tiers_granted: Retention | None = None
    tier: Tier | None = None
    # The backups whose period decided that tier: the run proves them its own (run/proof.py).
    tier_decided_by: list[str] = field(default_factory=list)
    not_proven: list[Kept] = field(default_factory=list)
    delete_now: list[Deletion] = field(default_factory=list)
    deferred: list[Deletion] = field(default_factory=list)
    # Room an earlier try of the slot made for it is still being freed: it is owed that room,
    # and goes first to it (or keeps its claim, busy again).
    waiting_for_room: bool = False

    @property
    def create(self) -> bool:
        return self.action is Action.CREATE


@dataclass
class Plan:
    servers: list[ServerPlan]
    quota: Quota
    # Manual backups in the account once the new backups exist and before deferred deletions,
    # and once deferred deletions are applied too.
    used_after_run: int
    used_when_settled: int
    # The limit as this run uses it (room.usable): `quota` with the room on its way to the
    # servers waiting for it counted free, and `coming` of those deletions to wait for.
    room: Quota
    coming: int = 0

    @property
    def creating(self) -> list[ServerPlan]:
        """The servers to back up, those waiting for room made for them first."""
        ordered = sorted(self.servers, key=lambda p: not p.waiting_for_room)
        return [p for p in ordered if p.create]

    @property
    def delete_now(self) -> list[Deletion]:
        return [d for p in self.servers for d in p.delete_now]


class PlanningError(ValueError):
    """The request cannot be planned (for example a named server that does not exist)."""


def resolve_retention(server: Server, policy: Policy) -> tuple[Retention | None, str | None]:
    """The tiers `server` keeps under `policy` (retention.resolve)."""
    return retention.resolve(server, policy.retention, policy.retention_override)


def check_named(servers: Sequence[Server], names: Sequence[str] | None) -> None:
    """Raises PlanningError, naming the field, when a named server does not exist."""
    known = {s.name for s in servers}
    missing = [name for name in names or () if name not in known]
    if missing:
        raise PlanningError(
            f"field 'servers': no OpsWorks CM server named {', '.join(map(repr, missing))}"
        )


def tagged_for_backup(server: Server, select_tag: tuple[str, str]) -> bool:
    """Whether the selection tag picks the server. One whose tags could not be read may be
    picked, so it counts as picked (and fails, saying why) rather than silently left out. A
    restore drill's temporary server never is, whatever tags it carries: it is deleted after
    its drill."""
    if is_drill_server(server):
        return False
    key, value = select_tag
    return server.tags_error is not None or server.tags.get(key) == value


def select(servers: Sequence[Server], policy: Policy) -> list[Server]:
    """The servers this run is about, in a stable order (named, or tagged: `tagged_for_backup`).

    Raises PlanningError when a named server does not exist.
    """
    if policy.servers is not None:
        check_named(servers, policy.servers)
        by_name = {s.name: s for s in servers}
        return [by_name[name] for name in sorted(set(policy.servers))]
    return sorted(
        (
            s
            for s in servers
            if tagged_for_backup(s, policy.select_tag)
            and (policy.within is None or s.name in policy.within)
        ),
        key=lambda s: s.name,
    )


def orphaned(servers: Sequence[Server], backups: Sequence[Backup]) -> list[Backup]:
    """Manual backups provably of a server that no longer exists: no server has their name now,
    or the server of that name was created after them or runs another engine."""
    current = {s.name: s for s in servers}

    def of_deleted_server(backup: Backup) -> bool:
        server = current.get(backup.server_name)
        if server is None:
            return True
        earlier = server.created_at is not None and backup.created_at < server.created_at
        other_engine = bool(server.engine and backup.engine) and backup.engine != server.engine
        return earlier or other_engine

    return [b for b in backups if b.is_manual and of_deleted_server(b)]


def _newest(backups: Sequence[Backup]) -> Backup | None:
    return max(backups, key=lambda b: (b.created_at, b.backup_id), default=None)


def _deletable(backup: Backup, scope: PruneScope) -> bool:
    """Rules 1-3: never automated, never in progress, only own backups unless opted in; a backup
    whose run tag was read and does not prove it the product's is not its own (ownership.py)."""
    if not backup.is_manual or backup.status not in ("OK", "FAILED"):
        return False
    return scope is PruneScope.ALL_MANUAL or (backup.is_own and not backup.proof.refused)


def own_running(backups: Sequence[Backup]) -> Backup | None:
    """The newest backup this product started that is still in progress, if any."""
    return _newest([b for b in backups if b.is_own and b.status == "IN_PROGRESS"])


def running_reason(running: Backup) -> str:
    return (
        f"backup {running.backup_id} this product started (run {running.run_id}) is still in "
        "progress; that run follows it, so no second one is made"
    )


def _triage(server: Server, mine: list[Backup], policy: Policy) -> ServerPlan | Candidate:
    """The server's part in the run, or a candidate for a backup. `mine` holds the backups
    made while this very server existed."""
    name = server.name
    adopted = (
        _newest([b for b in mine if b.run_id == policy.run_id and b.status != "DELETING"])
        if policy.run_id is not None
        else None
    )
    retain, problem = (None, None) if server.tags_error else resolve_retention(server, policy)
    asked = retain.total if retain else None
    if adopted is not None and retain is None:
        return ServerPlan(
            name,
            Action.ADOPT,
            f"{ADOPTED}; no retention is applied: {server.tags_error or problem}",
            backup_id=adopted.backup_id,
        )
    if adopted is None:
        if server.status == GONE:
            return ServerPlan(name, Action.NOTHING, "the server no longer exists")
        if is_drill_server(server):
            return ServerPlan(name, Action.NOTHING, DRILL_SERVER)
        if server.tags_error:
            return ServerPlan(
                name,
                Action.FAIL,
                f"not backed up: its tags could not be read ({server.tags_error}), so neither "
                "whether it is selected nor its retention is known",
            )
        if retain is None:
            return ServerPlan(name, Action.FAIL, f"not backed up: {problem}")
        running = own_running(mine)
        if running is not None:
            return ServerPlan(name, Action.NOTHING, running_reason(running), retain_asked=asked)
        if server.status in BUSY_STATES and policy.retry_busy:
            return ServerPlan(
                name,
                Action.RETRY,
                f"the server is {server.status}, so it is tried again later in the slot",
                retain_asked=asked,
            )
        if server.status not in BACKUP_ALLOWED_STATES:
            stayed = " at every try of the slot's retry window" if policy.retried else ""
            return ServerPlan(
                name,
                Action.FAIL,
                f"not backed up: the server is {server.status}{stayed}; backups can start only "
                "when it is RUNNING, HEALTHY or UNHEALTHY",
                retain_asked=asked,
            )
    assert retain is not None
    older = [b for b in mine if b is not adopted]
    pool = sorted(
        (b for b in older if _deletable(b, policy.prune_scope)),
        key=lambda b: (b.created_at, b.backup_id),
        reverse=True,
    )
    manual = [b for b in older if b.is_manual]
    tier, deciding = (
        (adopted.tier, []) if adopted else retention.new_tier(mine, policy.run_id, policy.zone)
    )
    return Candidate(
        server,
        retain,
        tier,
        pool,
        protected=_newest([b for b in manual if b.status == "OK"]),
        last_attempt=_newest(manual),
        adopted=adopted,
        tier_decided_by=deciding,
    )


def plan(
    servers: Sequence[Server], backups: Sequence[Backup], quota: Quota, policy: Policy
) -> Plan:
    """Plan one run. Raises PlanningError when a named server does not exist."""
    chosen = select(servers, policy)
    by_name: dict[str, list[Backup]] = {}
    for backup in backups:
        by_name.setdefault(backup.server_name, []).append(backup)

    plans: dict[str, ServerPlan] = {}
    candidates: list[Candidate] = []
    # A retry names the servers it is for; one gone or no longer selected needs nothing.
    current = {s.name for s in servers}
    gone_or_unselected = sorted(set(policy.within or ()) - {s.name for s in chosen})
    for name in gone_or_unselected:
        plans[name] = ServerPlan(
            name,
            Action.NOTHING,
            "not selected any more (its selection tag was removed)"
            if name in current
            else "the server no longer exists",
        )
    kept: dict[str, list[Kept]] = {}
    for server in chosen:
        mine = [b for b in by_name.get(server.name, []) if b.made_while(server)]
        kept[server.name] = retention.not_proven(mine, policy.prune_scope)
        part = _triage(server, mine, policy)
        if isinstance(part, ServerPlan):
            plans[part.server_name] = part
        else:
            candidates.append(part)

    adopters = [c for c in candidates if c.adopted is not None]
    # The servers waiting for room made for them earlier in the slot go first.
    owed = set(policy.waiting_for_room)
    ranked = sorted(
        (c for c in candidates if c.adopted is None),
        key=lambda c: (c.name not in owed, c.priority()),
    )
    held = [n for n in sorted(owed) if n in plans and plans[n].action is Action.RETRY]
    for name in held:
        plans[name].waiting_for_room = True
    usable = room.usable(
        quota,
        room.in_flight(backups, quota),
        waiting=sum(c.name in owed for c in ranked),
        held=len(held),
    )
    starting = sharing.most_that_fit(adopters, ranked, usable.quota)
    started = {c.name for c in starting}
    for left_out in [c for c in ranked if c.name not in started]:
        plans[left_out.name] = ServerPlan(
            left_out.name,
            Action.FAIL,
            reasons.no_room(quota, policy.prune_scope, len(starting), usable.coming + usable.held),
            retain_asked=left_out.retention.total,
            tiers_asked=left_out.retention,
        )
    participants = [*adopters, *starting]
    # Deletions now only make room for new backups; with none to start, nothing goes now.
    need = usable.quota.used + len(starting) - quota.maximum if starting else 0
    shares = _retention(participants, quota, usable.quota, need)
    for name in owed & shares.keys():
        shares[name].waiting_for_room = True
    plans.update(shares)

    for name, unproven in kept.items():
        plans[name].not_proven = unproven
    immediate = sum(len(p.delete_now) for p in plans.values())
    deferred = sum(len(p.deferred) for p in plans.values())
    # Once the new backups exist, the room on its way that they waited for has arrived.
    used_after = quota.used - usable.coming - immediate + len(starting)
    return Plan(
        servers=[plans[s.name] for s in chosen] + [plans[n] for n in gone_or_unselected],
        quota=quota,
        used_after_run=used_after,
        used_when_settled=used_after - deferred,
        room=usable.quota,
        coming=usable.coming,
    )


def _retention(
    participants: Sequence[Candidate], quota: Quota, usable: Quota, need: int
) -> dict[str, ServerPlan]:
    """Each participant's plan from its share of the limit as the run may use it (`usable`;
    see sharing.allocate); the reasons quote the service's count (`quota`)."""
    results = {}
    for name, share in sharing.allocate(participants, usable, need).items():
        candidate = share.candidate
        keeping = reasons.keeping(share, len(participants), quota)
        results[name] = ServerPlan(
            name,
            Action.CREATE if candidate.adopted is None else Action.ADOPT,
            keeping if candidate.adopted is None else f"{ADOPTED}; {keeping}",
            backup_id=candidate.adopted.backup_id if candidate.adopted else None,
            retain_asked=candidate.retention.total,
            retain_granted=share.granted,
            tiers_asked=candidate.retention,
            tiers_granted=share.tiers,
            tier=candidate.tier,
            tier_decided_by=[b.backup_id for b in candidate.tier_decided_by],
            delete_now=[
                Deletion(
                    b.backup_id,
                    name,
                    f"deleted now to make room under the account's manual-backup limit "
                    f"({quota.used} of {quota.maximum} used); "
                    + ("it had failed" if b.status == "FAILED" else "it was beyond retention"),
                )
                for b in share.now
            ],
            deferred=[
                Deletion(
                    b.backup_id,
                    name,
                    "failed backup, removed once the new backup is OK"
                    if b.status == "FAILED"
                    else f"beyond retention ({reasons.kept(share)} kept), removed once the new "
                    "backup is OK",
                )
                for b in share.deferred
            ],
        )
    return results
