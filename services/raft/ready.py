"""`Ready`: everything the core needs done, and the order it must be done in.

The driver handles one Ready at a time, then calls `core.advance(ready)`:

1. Persist `snapshot` (if any), then `entries`, then `hard_state`, durably when
   `must_sync`. Nothing below may happen before this is on disk: a vote or an append
   acknowledged and then forgotten in a crash breaks Raft's safety.
2. Send `messages`. A leader may send its appends and heartbeats before step 1
   (`ReadyHandler.before_persist` says why that is safe); everything else waits.
3. Restore the state machine from `snapshot` (if any), then apply `committed_entries` in
   order. A committed entry can be applied even if it was only persisted in step 1.
4. Serve each of `read_states` once the state machine has applied its index.
5. `advance(ready)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.raft.messages import Entry, HardState, Message, NodeId, ReadState, Snapshot
from services.raft.role import Role


@dataclass(frozen=True)
class SoftState:
    """Volatile facts worth reporting (metrics, status); never persisted."""

    role: Role
    leader: NodeId
    term: int


@dataclass(frozen=True)
class Ready:
    soft_state: SoftState
    # Changed since the last Ready; persist before sending messages. None: unchanged.
    hard_state: HardState | None
    # Replace the stored log from entries[0].index onward with these.
    entries: tuple[Entry, ...]
    # A snapshot received from the leader: persist it, then restore the state machine.
    snapshot: Snapshot | None
    # Send after the persist step (a leader's appends may go before it: see above).
    messages: tuple[Message, ...]
    # Apply in order, after the snapshot (if any).
    committed_entries: tuple[Entry, ...]
    # Reads that became safe; serve each once applied >= its index.
    read_states: tuple[ReadState, ...]
    # The persist step must fsync: term, vote or log changed (commit alone need not).
    must_sync: bool
