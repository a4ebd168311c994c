"""Sharing the account's manual-backup limit among the servers a run backs up (pure).

Which servers' new backups fit now (`most_that_fit`), how many backups each keeps once they are
OK (`fair_shares`, water-filling), and what each loses now or later (`allocate`). Every server here
is a `Candidate`: what it asks, and what safety rules 1-4 and 11 let it lose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from backup_orchestrator.domain import tiers
from backup_orchestrator.domain.records import Backup, Quota, Server
from backup_orchestrator.domain.tiers import Retention, Tier


@dataclass
class Candidate:
    """A server whose backup this run starts (or adopts), with what it may lose."""

    server: Server
    retention: Retention
    # The tier of its new backup.
    tier: Tier
    # What rules 1-3 and 11 let it lose, newest first (the adopted backup is never in it).
    pool: list[Backup]
    # Its newest OK manual backup, kept until a newer backup is OK (rule 4).
    protected: Backup | None
    # The most recent manual backup of any status: when the server last got a backup attempt.
    last_attempt: Backup | None
    adopted: Backup | None = None
    # The backups whose period decided the tier of its new backup (planner._tier).
    tier_decided_by: list[Backup] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def transient(self) -> bool:
        """Its newest OK backup is one it may lose later: while it keeps only one backup, that
        one and the new one both hold a slot until the new one is OK."""
        return self.protected is not None and self.protected in self.pool

    @property
    def spare(self) -> int:
        """How many backups it can lose right now."""
        return len(self.pool) - self.transient

    @property
    def good(self) -> list[tuple[Backup, Tier]]:
        """The good backups it may lose, newest first, each with its tier."""
        return [(b, b.tier) for b in self.pool if b.status == "OK"]

    @cached_property
    def wanted(self) -> list[Backup]:
        """The good backups it may lose that its tiers keep besides its new one, best first
        (tiers.keep_order: keeping a prefix trims the lowest tiers first)."""
        return tiers.keep_order(self.tier, self.good, self.retention)

    @property
    def demand(self) -> int:
        """The most backups it can hold: its new one plus the good ones its tiers keep."""
        return 1 + len(self.wanted)

    def priority(self) -> tuple[float, float, str]:
        """Most in need first: the oldest (or no) good backup, then the oldest last attempt, so a
        server left out for room goes ahead of the ones that got in, next slot."""

        def age(backup: Backup | None) -> float:
            return backup.created_at.timestamp() if backup is not None else float("-inf")

        return (age(self.protected), age(self.last_attempt), self.name)


def most_that_fit(
    adopters: Sequence[Candidate], ranked: Sequence[Candidate], quota: Quota
) -> list[Candidate]:
    """The most servers whose new backups fit now, in priority order.

    Starting a set S fits when the backups its servers can lose now cover the overflow:
    used + |S| - maximum <= sum of spare over S and the adopters. A server with a spare backup
    adds at least as much room as its new backup takes, so all of those start; each server
    without one takes one slot of what is left (`slack`), most in need first.
    """
    bringing = [c for c in ranked if c.spare >= 1]
    slack = (
        quota.maximum
        - quota.used
        + sum(c.spare for c in adopters)
        + sum(c.spare - 1 for c in bringing)
    )
    if slack < 0:
        return []
    needing = [c for c in ranked if c.spare == 0][:slack]
    chosen = {c.name for c in [*bringing, *needing]}
    return [c for c in ranked if c.name in chosen]


def fair_shares(participants: Sequence[Candidate], capacity: int) -> dict[str, int]:
    """Water-fill `capacity` slots: everyone gets one, nobody more than its demand, shares differ
    by at most one among those held below their demand, and leftovers go to the earlier ones.

    A transient server holds two slots while it keeps one backup (its old newest one until the
    new one is OK), so its second share is free.
    """
    shares = {c.name: 2 if c.transient and c.demand >= 2 else 1 for c in participants}
    remaining = capacity - sum(1 + c.transient for c in participants)
    demand = {c.name: c.demand for c in participants}
    while remaining > 0:
        hungry = [c.name for c in participants if shares[c.name] < demand[c.name]]
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


@dataclass(frozen=True)
class Share:
    """What one participant keeps of the limit, and what it loses: now, or once its new backup
    is OK."""

    candidate: Candidate
    granted: int
    now: list[Backup]
    deferred: list[Backup]
    # The tiers its kept backups and its new one give it (the whole ask once they accumulate).
    tiers: Retention


def allocate(participants: Sequence[Candidate], quota: Quota, need: int) -> dict[str, Share]:
    """Each participant's share: what it keeps, what goes once its new backup is OK, and the
    `need` deletions (failed backups first, then the oldest) that must happen now for the new
    backups to fit, never a server's newest OK backup."""
    pooled = sum(len(c.pool) for c in participants)
    adopted = sum(c.adopted is not None for c in participants)
    # The slots the run's servers can share: the limit minus what nobody here may delete.
    capacity = quota.maximum - (quota.used - pooled - adopted)
    shares = fair_shares(participants, capacity)
    surplus: dict[str, list[Backup]] = {}
    keeping: dict[str, list[Backup]] = {}
    for candidate in participants:
        # The share holds the new backup and the best of the wanted ones.
        keeping[candidate.name] = candidate.wanted[: shares[candidate.name] - 1]
        surplus[candidate.name] = [b for b in candidate.pool if b not in keeping[candidate.name]]
    protected = {c.protected.backup_id for c in participants if c.protected is not None}
    now = sorted(
        (b for losing in surplus.values() for b in losing if b.backup_id not in protected),
        key=lambda b: (b.status != "FAILED", b.created_at, b.backup_id),
    )[: max(0, need)]
    now += _kept_that_must_go(participants, keeping, protected, max(0, need) - len(now))
    for candidate in participants:
        keeping[candidate.name] = [b for b in keeping[candidate.name] if b not in now]
    return {
        c.name: Share(
            candidate=c,
            granted=c.retention.total if _held(c, keeping) >= c.demand else _held(c, keeping),
            now=[b for b in now if b.server_name == c.name],
            deferred=[b for b in surplus[c.name] if b not in now],
            tiers=c.retention
            if _held(c, keeping) >= c.demand
            else tiers.granted(c.tier, c.good, keeping[c.name], c.retention),
        )
        for c in participants
    }


def _held(candidate: Candidate, keeping: dict[str, list[Backup]]) -> int:
    """The backups the candidate holds once settled: its new one and the ones it keeps."""
    return 1 + len(keeping[candidate.name])


def _kept_that_must_go(
    participants: Sequence[Candidate],
    keeping: dict[str, list[Backup]],
    protected: set[str],
    short: int,
) -> list[Backup]:
    """When the backups beyond the shares cannot make all the room needed now, kept ones go.

    That happens when a server's newest good backup is not one it keeps (tiers can keep an older
    monthly over it): it still holds that backup until its new one is OK, a slot more than its
    share meanwhile. The room comes from whoever keeps the most (shares stay within one of each
    other), its lowest-ranked kept backup first; never a newest good one (rule 4).
    """
    held = {
        c.name: [b for b in keeping[c.name] if b.backup_id not in protected] for c in participants
    }
    going: list[Backup] = []
    for _ in range(short):
        losing = [c.name for c in participants if held[c.name]]
        if not losing:
            break
        most = max(losing, key=lambda name: (len(keeping[name]) - _lost(name, going), name))
        going.append(held[most].pop())
    return going


def _lost(name: str, going: Sequence[Backup]) -> int:
    return sum(b.server_name == name for b in going)
