"""etcd's leases in the KV state machine: a lease has a TTL and the keys put with it;
when it is revoked or expires, its keys are deleted, all in one revision.

Time is the leader clock's (services/replicated/leader_clock.py): grant and keep-alive
carry the leader's `now`, expiry is a command the leader proposes, and a new leader's
`lead` extends every lease to at least one TTL past the log's clock, as etcd's lessor
does when a member is promoted. So a lease never ends sooner than its holder's last
keep-alive plus its TTL, on the clock of whichever leader judged it.

Snapshot: {"clock_ms", "leases": [[id, ttl_s, expires_at_ms, [key, ...]], ...]}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_TTL_S = 2  # etcd's floor for a 100 ms heartbeat and 10-tick elections: 3/2 election
MAX_TTL_S = 9_000_000_000  # etcd's MaxLeaseTTL
ID_MASK = (1 << 63) - 1  # lease ids are positive int64
ID_SCRAMBLE = 0x9E3779B97F4A7C15  # odd: index -> id is one-to-one modulo 2**64


@dataclass
class Lease:
    id: int
    ttl_s: int  # as granted: raised to MIN_TTL_S, as etcd raises it
    expires_at_ms: int
    keys: set[bytes] = field(default_factory=set)

    def remaining_s(self, now_ms: int) -> int:
        """Whole seconds left, as etcd's TimeToLive counts them (truncated); -1 if past."""
        left_ms = self.expires_at_ms - now_ms
        return left_ms // 1000 if left_ms >= 0 else -1

    def to_wire(self) -> list[Any]:
        return [self.id, self.ttl_s, self.expires_at_ms, sorted(self.keys)]

    @classmethod
    def from_wire(cls, wire: list[Any]) -> Lease:
        lease_id, ttl_s, expires_at_ms, keys = wire
        return cls(lease_id, ttl_s, expires_at_ms, set(keys))


class LeaseTable:
    """The leases and the log's clock. Restored in place (the leader clock holds it)."""

    def __init__(self) -> None:
        self.leases: dict[int, Lease] = {}
        self.clock_ms = 0

    # -- what a txn needs (services/kv/etcd/txn.py) ----------------------------------------

    def exists(self, lease_id: int) -> bool:
        return lease_id in self.leases

    def attach(self, lease_id: int, key: bytes) -> None:
        self.leases[lease_id].keys.add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        lease = self.leases.get(lease_id)
        if lease is not None:
            lease.keys.discard(key)

    # -- the clock ------------------------------------------------------------------------

    def saw(self, now_ms: int) -> None:
        """A command carried the leader's time: the log's clock never goes back."""
        self.clock_ms = max(self.clock_ms, now_ms)

    def due(self, now_ms: int) -> list[int]:
        return sorted(i for i, lease in self.leases.items() if lease.expires_at_ms <= now_ms)

    def lead(self) -> None:
        """A new leader takes office: nobody could keep alive during the election."""
        for lease in self.leases.values():
            lease.expires_at_ms = max(lease.expires_at_ms, self.clock_ms + lease.ttl_s * 1000)

    # -- lease commands -------------------------------------------------------------------

    def new_id(self, index: int) -> int:
        """A fresh id when the client asked for none: derived from the Raft index, so every
        replica picks the same one; scrambled, so ids look like etcd's."""
        lease_id = (index * ID_SCRAMBLE) & ID_MASK or 1
        while lease_id in self.leases:
            lease_id = lease_id % ID_MASK + 1
        return lease_id

    def grant(self, lease_id: int, ttl_s: int, now_ms: int) -> Lease:
        ttl = max(ttl_s, MIN_TTL_S)
        lease = Lease(lease_id, ttl, now_ms + ttl * 1000)
        self.leases[lease_id] = lease
        return lease

    def keep_alive(self, lease_id: int, now_ms: int) -> Lease | None:
        lease = self.leases.get(lease_id)
        if lease is not None:
            lease.expires_at_ms = max(lease.expires_at_ms, now_ms + lease.ttl_s * 1000)
        return lease

    def pop(self, lease_id: int) -> Lease | None:
        return self.leases.pop(lease_id, None)

    # -- snapshots ------------------------------------------------------------------------

    def to_map(self) -> dict[str, Any]:
        return {"clock_ms": self.clock_ms, "leases": [x.to_wire() for x in self.leases.values()]}

    def restore(self, m: dict[str, Any] | None) -> None:
        m = m or {"clock_ms": 0, "leases": []}
        self.clock_ms = m["clock_ms"]
        self.leases = {w[0]: Lease.from_wire(w) for w in m["leases"]}
