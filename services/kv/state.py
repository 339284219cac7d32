"""The KV state machine: deterministic, so every replica that applies the same commands in
the same order holds the same state. Commands and results: commands.py, results.py.

A session's retried command (same seq) returns the first result without applying again
(the Raft thesis, §6.3); a batch's session covers the batch as a whole. Results are kept
until the client acknowledges them. A fenced command whose token is below the highest
seen for its fence name is refused and changes nothing; otherwise its token becomes the
highest.

The data is an MVCC store (mvcc.py) shared by faultlab's API and etcd's: one revision,
past versions kept for reads and watches until compacted, which happens here, in apply,
every COMPACT_EVERY revisions (or `history_revisions`, if fewer), to keep the last
`history_revisions` (so every replica compacts at the same revision); or, in etcd's
periodic mode, only when the leader proposes it (compaction.py). etcd's own requests
(services/kv/etcd/txn.py) have no session and no fence, as in etcd.

Snapshot (format 2): {"v": 2, "store": Store map (mvcc.py), "sessions": {client id:
{"acked_through", "results": [[seq, result map], ...]}}, "fences": {name: highest token},
"leases": LeaseTable map (leases.py), absent before leases: none}.
Format 1 had {"data": {str key: Record wire}, "revision"} and no history; format 0 also
had positional sessions and untagged results.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from etcdapi.etcdserverpb import rpc_pb2
from google.protobuf.message import Message

from services.kv import commands, results
from services.kv.commands import (
    Append,
    Batch,
    CompareAndSwap,
    Delete,
    EtcdCompact,
    EtcdTxn,
    KvCommand,
    LeaseCommand,
    LeaseExpire,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseLead,
    LeaseRevoke,
    Put,
    Write,
)
from services.kv.etcd import errors as etcd_errors
from services.kv.etcd import txn
from services.kv.leases import MAX_TTL_S, Lease, LeaseTable
from services.kv.mvcc import (
    Change,
    CompactedRevision,
    FutureRevision,
    KeyRange,
    Store,
)
from services.kv.results import (
    BatchApplied,
    Deleted,
    KvResult,
    Record,
    Swapped,
    WriteResult,
    Written,
)
from services.replicated.codec import FORMAT, VERSION_KEY, pack, snapshot_version, unpack
from services.replicated.fences import Fences
from services.replicated.refusal import Refusal
from services.runtime.errors import ForeignError


@dataclass
class ClientSession:
    """One client's answered writes: kept until the client says it has their answers
    (`acked_through`), so a client may have many writes in flight and retry any of them."""

    acked_through: int = 0
    results: dict[int, KvResult] = field(default_factory=dict)

    def forget_through(self, seq: int) -> None:
        if seq > self.acked_through:
            self.acked_through = seq
            self.results = {s: r for s, r in self.results.items() if s > seq}

    def to_map(self) -> dict[str, Any]:
        return {
            "acked_through": self.acked_through,
            "results": [[seq, results.to_map(r)] for seq, r in self.results.items()],
        }

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> ClientSession:
        return cls(m["acked_through"], {seq: results.from_map(r) for seq, r in m["results"]})

    @classmethod
    def from_format0(cls, saved: list[Any]) -> ClientSession:
        acked_through, kept = saved
        if isinstance(kept, dict):  # from before acked_through: [seq, result]
            return cls(acked_through - 1, {acked_through: results.from_format0(kept)})
        return cls(acked_through, {seq: results.from_format0(r) for seq, r in kept})


Listener = Callable[[Change], None]
EtcdAnswer: TypeAlias = Message | ForeignError  # what an etcd command's apply returns
M = TypeVar("M", bound=Message)

HISTORY_REVISIONS = 10_000  # versions kept: reads and watches reach this far back
COMPACT_EVERY = 1_000  # revisions between two automatic compactions


class KvState:
    def __init__(self, history_revisions: int | None = HISTORY_REVISIONS) -> None:
        self.store = Store()
        self.history_revisions = history_revisions  # None: compacted only when told
        self.sessions: dict[str, ClientSession] = {}
        self.fences = Fences()
        self.leases = LeaseTable()
        self.listeners: set[Listener] = set()
        self._fresh = True  # nothing applied or restored yet

    @property
    def revision(self) -> int:
        return self.store.revision

    @property
    def data(self) -> dict[bytes, Record]:
        return self.store.current

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> KvResult | EtcdAnswer:
        entry = unpack(command)
        if self._fresh:
            self._fresh = False
            if entry.get(VERSION_KEY, 0) < 2:
                # A log begun before format 2 counted revisions from 0 (the first write was
                # revision 1): replay it as it was answered, on every replica alike.
                self.store.revision = 0
        cmd = commands.COMMANDS.from_map(entry)
        if isinstance(cmd, EtcdTxn | EtcdCompact):
            return self._etcd(cmd)
        if isinstance(cmd, LeaseCommand):
            return self._lease(index, cmd)
        return self._applied_once(cmd)

    def _etcd(self, cmd: EtcdTxn | EtcdCompact) -> EtcdAnswer:
        """etcd's own requests: no session (etcd has none), and an etcd error is an
        answer, returned, never raised out of the state machine."""
        before = self.store.revision
        try:
            if isinstance(cmd, EtcdCompact):
                return self._compact(cmd.revision)
            return txn.apply_txn(
                self.store, self.leases, rpc_pb2.TxnRequest.FromString(cmd.request)
            )
        except ForeignError as refused:
            return refused
        finally:
            self._after_write(before)

    def _lease(self, index: int, cmd: LeaseCommand) -> EtcdAnswer | list[int] | None:
        """A lease command; its keys' deletes told to the watchers like any write's."""
        before = self.store.revision
        try:
            return self._lease_command(index, cmd)
        except ForeignError as refused:
            return refused
        finally:
            self._after_write(before)

    def _lease_command(self, index: int, cmd: LeaseCommand) -> EtcdAnswer | list[int] | None:
        leases = self.leases
        if isinstance(cmd, LeaseLead):
            leases.lead()
            return None
        if isinstance(cmd, LeaseRevoke):
            lease = leases.pop(cmd.lease_id)
            if lease is None:
                raise etcd_errors.LEASE_NOT_FOUND
            self._end(lease)
            return self._headed(rpc_pb2.LeaseRevokeResponse())
        leases.saw(cmd.now)
        if isinstance(cmd, LeaseGrant):
            if cmd.ttl_s > MAX_TTL_S:
                raise etcd_errors.LEASE_TTL_TOO_LARGE
            lease_id = cmd.lease_id or leases.new_id(index)
            if leases.exists(lease_id):
                raise etcd_errors.LEASE_EXIST
            granted = leases.grant(lease_id, cmd.ttl_s, cmd.now)
            return self._headed(rpc_pb2.LeaseGrantResponse(ID=granted.id, TTL=granted.ttl_s))
        if isinstance(cmd, LeaseKeepAlive):
            kept = leases.keep_alive(cmd.lease_id, cmd.now)
            ttl = kept.ttl_s if kept else 0  # etcd answers a lease it does not know with TTL 0
            return self._headed(rpc_pb2.LeaseKeepAliveResponse(ID=cmd.lease_id, TTL=ttl))
        assert isinstance(cmd, LeaseExpire), cmd
        ended = []
        for lease_id in cmd.lease_ids:  # due when proposed; a keep-alive since may have won
            lease = leases.leases.get(lease_id)
            if lease is not None and lease.expires_at_ms <= cmd.now:
                leases.pop(lease_id)
                self._end(lease)
                ended.append(lease_id)
        return ended

    def _end(self, lease: Lease) -> None:
        """A lease revoked or expired: its keys deleted, all in one revision."""
        revision = self.store.revision + 1
        deleted = [self.store.delete(revision, key) for key in sorted(lease.keys)]
        if any(deleted):
            self.store.revision = revision

    def _headed(self, response: M) -> M:
        response.header.revision = self.revision
        return response

    def _applied_once(self, cmd: KvCommand) -> KvResult:
        """`cmd`'s result, applying it at most once per session seq."""
        client = None
        if cmd.session is not None:
            client = self.sessions.setdefault(cmd.session.client_id, ClientSession())
            client.forget_through(cmd.session.acked_through)
            kept = client.results.get(cmd.session.seq)
            if kept is not None:
                return kept  # a retry: the first answer, nothing applied again
            if cmd.session.seq <= client.acked_through:
                return results.stale_session(cmd.session.seq, client.acked_through)
        result: KvResult
        if isinstance(cmd, Batch):  # each op as if applied alone, with its own session
            result = BatchApplied(tuple(self._one(op) for op in cmd.ops))
        else:
            assert isinstance(cmd, Write), cmd
            refused = self.fences.refuse(cmd.fence) if cmd.fence else None
            before = self.store.revision
            result = refused or self._apply(cmd)
            self._after_write(before)
        if client is not None:
            assert cmd.session is not None
            client.results[cmd.session.seq] = result
        return result

    def _one(self, op: Write) -> WriteResult:
        result = self._applied_once(op)
        assert not isinstance(result, BatchApplied), "a batch holds no batch"
        return result

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "store": self.store.to_map(),
                "sessions": {k: c.to_map() for k, c in self.sessions.items()},
                "fences": self.fences.snapshot(),
                "leases": self.leases.to_map(),
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        version = snapshot_version(state)
        if version == 0:
            sessions = {k: ClientSession.from_format0(v) for k, v in state["sessions"].items()}
        else:
            sessions = {k: ClientSession.from_map(v) for k, v in state["sessions"].items()}
        if version < 2:  # current records only, keyed by str: history starts here
            records = {k.encode(): Record.from_wire(v) for k, v in state["data"].items()}
            self.store = Store.from_current(records, state["revision"])
        else:
            self.store = Store.from_map(state["store"])
        self.sessions = sessions
        self.fences.restore(state["fences"])
        self.leases.restore(state.get("leases"))
        self._fresh = False

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: str) -> Record | None:
        return self.store.get(key.encode())

    def range(self, prefix: str, limit: int) -> tuple[list[tuple[str, Record]], bool]:
        found = itertools.islice(self.store.range(KeyRange.prefix(prefix.encode())), limit + 1)
        items = [(text(k), r) for k, r in found]
        return items[:limit], len(items) > limit

    def changes_after(self, revision: int) -> list[Change] | None:
        """Every change after `revision`; None when some were already compacted away."""
        try:
            return self.store.changes_after(revision)
        except CompactedRevision:
            return None

    # -- writes ---------------------------------------------------------------------------

    def _apply(self, cmd: Write) -> WriteResult:
        if isinstance(cmd, Put):
            record = self._write(cmd.key, cmd.value)
            return Written(self.revision, record)
        if isinstance(cmd, Delete):
            return self._delete(cmd.key)
        if isinstance(cmd, CompareAndSwap):
            return self._cas(cmd.key, cmd.expected_version, cmd.value)
        if isinstance(cmd, Append):
            return self._append(cmd.key, cmd.value)
        raise AssertionError(f"unknown command {cmd.TAG!r}: a replica is out of date")

    def _append(self, key: str, value: bytes) -> Written | Refusal:
        old = self.get(key)
        joined = (old.value if old else b"") + value
        if len(joined) > commands.MAX_VALUE_BYTES:
            return results.too_large(len(joined))
        record = self._write(key, joined)
        return Written(self.revision, record)

    def _delete(self, key: str) -> Deleted:
        old = self.store.get(key.encode())
        if old is None:
            return Deleted(False, self.revision)
        self.store.delete(self.revision + 1, key.encode())
        self._detach(key.encode(), old)
        self.store.revision += 1
        return Deleted(True, self.revision)

    def _cas(self, key: str, expected_version: int, value: bytes) -> Swapped:
        current = self.get(key)
        version = current.version if current else 0
        if version != expected_version:
            return Swapped(False, self.revision, current)
        record = self._write(key, value)
        return Swapped(True, self.revision, record)

    def _write(self, key: str, value: bytes) -> Record:
        """A put from faultlab's API: like etcd's put without a lease, it takes the key
        off any lease it had."""
        change = self.store.put(self.revision + 1, key.encode(), value)
        self._detach(change.key, change.prev)
        self.store.revision += 1
        assert change.record is not None
        return change.record

    def _detach(self, key: bytes, old: Record | None) -> None:
        if old is not None and old.lease:
            self.leases.detach(old.lease, key)

    def _compact(self, revision: int) -> Message:
        try:
            self.store.compact(revision)
        except FutureRevision:
            raise etcd_errors.FUTURE_REV from None
        except CompactedRevision:
            raise etcd_errors.COMPACTED from None
        response = rpc_pb2.CompactionResponse()
        response.header.revision = self.revision
        return response

    def _after_write(self, before: int) -> None:
        """Tell the watchers of this command's changes, then keep history bounded."""
        if self.store.revision == before:
            return
        for change in self.store.changes_after(before):
            for listener in list(self.listeners):
                listener(change)
        if self.history_revisions is None:
            return
        oldest_kept = self.store.revision - self.history_revisions
        if oldest_kept - self.store.compacted >= min(COMPACT_EVERY, self.history_revisions):
            self.store.compact(oldest_kept)


def text(key: bytes) -> str:
    """A key as faultlab's API shows it: UTF-8, with any byte that is not (an etcd client
    may write any bytes) shown as a backslash escape."""
    return key.decode("utf-8", "backslashreplace")
