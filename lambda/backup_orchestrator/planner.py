"""The pure planner: fleet snapshot + quota + policy in, plan out. No I/O, no clock.

The manual-backup limit is per account, so retention is planned across the whole fleet:
1. select servers (by name, or by tag) and skip those whose state refuses a backup;
2. share the limit among the servers that will back up, fairly (water-filling), so each keeps
   at most what it asked for and the account's steady state fits under the limit;
3. split each server's surplus into deferred deletions (applied by the tracker once the new
   backup is OK) and, only as many as needed to fit the new backups under the limit now,
   immediate deletions, never touching a server's newest OK manual backup;
4. when even that cannot make room, drop the servers that need a backup least (the most recent
   good backup) until the rest fit, and say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from backup_orchestrator.models import (
    BACKUP_ALLOWED_STATES,
    GONE,
    RETAIN_MAX,
    RETAIN_MIN,
    RETAIN_TAG,
    Backup,
    PruneScope,
    Quota,
    Server,
)


@dataclass(frozen=True)
class Policy:
    """What the run was asked to do. `servers` names servers explicitly (manual run)."""

    select_tag: tuple[str, str]
    retain: int
    prune_scope: PruneScope = PruneScope.OWN
    servers: tuple[str, ...] | None = None
    # An explicit retention for this run (manual event) wins over server tags and the default.
    retain_override: int | None = None
    # Servers that already have this run's backup (an earlier attempt of the same run made it):
    # never a second one in the same slot.
    already_started: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Deletion:
    backup_id: str
    server_name: str
    reason: str


@dataclass
class ServerPlan:
    server_name: str
    create: bool
    reason: str
    retain_asked: int | None = None
    retain_granted: int | None = None
    delete_now: list[Deletion] = field(default_factory=list)
    deferred: list[Deletion] = field(default_factory=list)


@dataclass
class Plan:
    servers: list[ServerPlan]
    quota: Quota
    # Manual backups in the account once the new backups exist and before deferred deletions,
    # and once deferred deletions are applied too.
    used_after_run: int
    used_when_settled: int

    @property
    def creating(self) -> list[ServerPlan]:
        return [p for p in self.servers if p.create]

    @property
    def delete_now(self) -> list[Deletion]:
        return [d for p in self.servers for d in p.delete_now]


class PlanningError(ValueError):
    """The request cannot be planned (for example a named server that does not exist)."""


def resolve_retain(server: Server, policy: Policy) -> tuple[int | None, str | None]:
    """The retention for `server`: run override, else its tag, else the default.

    Returns (retain, None), or (None, reason) when the server's tag is not a number in range.
    """
    if policy.retain_override is not None:
        return policy.retain_override, None
    raw = server.tags.get(RETAIN_TAG)
    if raw is None:
        return policy.retain, None
    if raw.strip().isdigit() and RETAIN_MIN <= int(raw) <= RETAIN_MAX:
        return int(raw), None
    return None, (
        f"its tag {RETAIN_TAG}={raw!r} is not a whole number from {RETAIN_MIN} to {RETAIN_MAX}; "
        "fix the tag to include this server"
    )


def check_named(servers: Sequence[Server], names: Sequence[str] | None) -> None:
    """Raises PlanningError, naming the field, when a named server does not exist."""
    known = {s.name for s in servers}
    missing = [name for name in names or () if name not in known]
    if missing:
        raise PlanningError(
            f"field 'servers': no OpsWorks CM server named {', '.join(map(repr, missing))}"
        )


def select(servers: Sequence[Server], policy: Policy) -> list[Server]:
    """The servers this run is about, in a stable order.

    Raises PlanningError when a named server does not exist.
    """
    if policy.servers is not None:
        check_named(servers, policy.servers)
        by_name = {s.name: s for s in servers}
        return [by_name[name] for name in sorted(set(policy.servers))]
    key, value = policy.select_tag
    return sorted((s for s in servers if s.tags.get(key) == value), key=lambda s: s.name)


def _deletable(backup: Backup, scope: PruneScope) -> bool:
    """Rules 1-3: never automated, never in progress, only own backups unless opted in."""
    if not backup.is_manual or backup.status not in ("OK", "FAILED"):
        return False
    return scope is PruneScope.ALL_MANUAL or backup.is_own


def _newest_ok_manual(backups: Iterable[Backup]) -> Backup | None:
    ok = [b for b in backups if b.is_manual and b.status == "OK"]
    return max(ok, key=lambda b: (b.created_at, b.backup_id), default=None)


def _fair_shares(asked: Mapping[str, int], capacity: int, order: Sequence[str]) -> dict[str, int]:
    """Water-fill `capacity` over servers: nobody gets more than asked, shares differ by at most
    one among servers that got less than asked, and leftovers go to servers earlier in `order`."""
    shares = dict.fromkeys(asked, 0)
    remaining = max(0, capacity)
    while remaining > 0:
        hungry = [name for name in order if shares[name] < asked[name]]
        if not hungry:
            break
        level = min(shares[name] for name in hungry)
        for name in hungry:
            if remaining == 0:
                break
            if shares[name] == level:
                shares[name] += 1
                remaining -= 1
    return shares


def plan(
    servers: Sequence[Server], backups: Sequence[Backup], quota: Quota, policy: Policy
) -> Plan:
    """Plan one run. Raises PlanningError when a named server does not exist."""
    chosen = select(servers, policy)
    by_server: dict[str, list[Backup]] = {}
    for backup in backups:
        by_server.setdefault(backup.server_name, []).append(backup)

    plans: dict[str, ServerPlan] = {}
    asked: dict[str, int] = {}
    for server in chosen:
        retain, problem = resolve_retain(server, policy)
        if server.name in policy.already_started:
            plans[server.name] = ServerPlan(
                server.name,
                False,
                "an earlier attempt of this run already started its backup",
                retain_asked=retain,
            )
        elif problem or retain is None:
            plans[server.name] = ServerPlan(server.name, False, f"skipped: {problem}")
        elif server.status == GONE:
            plans[server.name] = ServerPlan(
                server.name, False, "skipped: the server no longer exists", retain_asked=retain
            )
        elif server.status not in BACKUP_ALLOWED_STATES:
            plans[server.name] = ServerPlan(
                server.name,
                False,
                f"skipped: the server is {server.status}; backups can start only when it is "
                "RUNNING, HEALTHY or UNHEALTHY",
                retain_asked=retain,
            )
        else:
            asked[server.name] = retain

    creators = sorted(asked, key=lambda name: _priority(name, by_server))
    while True:
        attempt = _plan_creators(creators, asked, by_server, quota, policy)
        if attempt is not None:
            break
        # Not even immediate deletions can make room for everyone: drop the server that needs
        # a backup least and try again.
        dropped = creators.pop()
        plans[dropped] = ServerPlan(
            dropped,
            False,
            _no_room_reason(quota, policy),
            retain_asked=asked[dropped],
        )
    creator_plans, used_after, settled = attempt
    plans.update(creator_plans)
    return Plan(
        servers=[plans[s.name] for s in chosen],
        quota=quota,
        used_after_run=used_after,
        used_when_settled=settled,
    )


def _priority(name: str, by_server: Mapping[str, list[Backup]]) -> tuple[float, str]:
    """Servers whose newest good backup is oldest (or missing) come first."""
    newest = _newest_ok_manual(by_server.get(name, []))
    return (newest.created_at.timestamp() if newest else float("-inf"), name)


def _no_room_reason(quota: Quota, policy: Policy) -> str:
    scope = (
        "backups this product did not create, automated or in-progress backups, or the newest "
        "good backup of a server"
        if policy.prune_scope is PruneScope.OWN
        else "automated or in-progress backups, or the newest good backup of a server"
    )
    return (
        f"skipped: no room under the account's manual-backup limit ({quota.used} of "
        f"{quota.maximum} used) and the backups filling it are ones this run may not delete "
        f"({scope}); raise the limit, delete old manual backups, or lower retention"
    )


def _plan_creators(
    creators: list[str],
    asked: Mapping[str, int],
    by_server: Mapping[str, list[Backup]],
    quota: Quota,
    policy: Policy,
) -> tuple[dict[str, ServerPlan], int, int] | None:
    """Plan the given creators, or None when the new backups cannot all fit right now."""
    pools = {
        name: sorted(
            (b for b in by_server.get(name, []) if _deletable(b, policy.prune_scope)),
            key=lambda b: (b.created_at, b.backup_id),
            reverse=True,
        )
        for name in creators
    }
    pooled = sum(len(pool) for pool in pools.values())
    fixed = quota.used - pooled
    # A server can hold no more than its new backup plus the good ones it already has, so it
    # only competes for that many slots; what it cannot use goes to the others.
    demand = {
        name: min(asked[name], 1 + sum(b.status == "OK" for b in pools[name])) for name in creators
    }
    shares = _fair_shares(demand, quota.maximum - fixed, creators)
    if any(share == 0 for share in shares.values()):
        return None

    results: dict[str, ServerPlan] = {}
    surplus: list[tuple[Backup, ServerPlan]] = []
    for name in creators:
        share = shares[name]
        granted = asked[name] if share >= demand[name] else share
        keep_ok = share - 1  # the new backup takes one of the server's slots
        kept = 0
        result = ServerPlan(
            name,
            True,
            "",
            retain_asked=asked[name],
            retain_granted=granted,
        )
        for backup in pools[name]:
            if backup.status == "OK" and kept < keep_ok:
                kept += 1
                continue
            why = (
                "failed backup, removed once the new backup is OK"
                if backup.status == "FAILED"
                else f"beyond retention ({granted} kept), removed once the new backup is OK"
            )
            result.deferred.append(Deletion(backup.backup_id, name, why))
            surplus.append((backup, result))
        result.reason = _start_reason(asked[name], granted, len(creators), quota)
        results[name] = result

    need = quota.used + len(creators) - quota.maximum if creators else 0
    if need > 0:
        protected = {
            newest.backup_id
            for name in creators
            if (newest := _newest_ok_manual(by_server.get(name, []))) is not None
        }
        candidates = sorted(
            ((b, owner) for b, owner in surplus if b.backup_id not in protected),
            key=lambda item: (item[0].status != "FAILED", item[0].created_at, item[0].backup_id),
        )
        if len(candidates) < need:
            return None
        for backup, owner in candidates[:need]:
            deletion = next(d for d in owner.deferred if d.backup_id == backup.backup_id)
            owner.deferred.remove(deletion)
            owner.delete_now.append(
                Deletion(
                    backup.backup_id,
                    backup.server_name,
                    f"deleted now to make room under the account's manual-backup limit "
                    f"({quota.used} of {quota.maximum} used); "
                    + ("it had failed" if backup.status == "FAILED" else "it was beyond retention"),
                )
            )
    immediate = max(0, need)
    deferred = sum(len(r.deferred) for r in results.values())
    used_after = quota.used - immediate + len(creators)
    return results, used_after, used_after - deferred


def _start_reason(asked: int, granted: int, creators: int, quota: Quota) -> str:
    if granted >= asked:
        return f"keeping {granted} backups"
    return (
        f"keeping {granted} backups instead of {asked}: the account's "
        f"manual-backup limit ({quota.maximum}) is shared by {creators} servers"
    )
