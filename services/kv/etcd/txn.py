"""etcd's requests applied to the store, with etcd's semantics: what the KV state machine runs
for an etcd Put, DeleteRange or Txn (each a transaction: one revision for all its writes),
and what every replica answers a Range with. Pure: no I/O, no clock.

A Txn first evaluates its compares on the store as it is, which picks a branch (and, in
nested txns, theirs); then checks that branch (a read at a future or compacted revision,
a put on an unknown lease, ignore_value or ignore_lease on a missing key) and refuses the
whole txn, changing nothing, if any check fails; then runs the ops in order at
revision+1. Reads inside a txn see its earlier writes. A txn that writes nothing does
not move the revision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from etcdapi.etcdserverpb import rpc_pb2
from etcdapi.etcdserverpb.rpc_pb2 import RangeRequest
from etcdapi.mvccpb import kv_pb2 as mvccpb

from services.kv.etcd import errors
from services.kv.mvcc import CompactedRevision, FutureRevision, KeyRange, Store
from services.kv.results import Record

Compare = rpc_pb2.Compare


class Leases(Protocol):
    """What a txn needs of the leases (services/kv/leases.py): whether one exists, and to
    know which keys each holds (so a lease's end deletes them)."""

    def exists(self, lease_id: int) -> bool: ...

    def attach(self, lease_id: int, key: bytes) -> None: ...

    def detach(self, lease_id: int, key: bytes) -> None: ...


def apply_txn(store: Store, leases: Leases, request: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse:
    """The txn's response; raises its etcd error (changing nothing) if its branch fails
    a check."""
    path = _branches(store, request)
    _check(store, leases, request, list(path))
    revision = store.revision + 1
    response = _execute(store, leases, request, list(path), revision)
    if _wrote(store, revision):
        store.revision = revision
    response.header.revision = store.revision
    return response


def range_response(store: Store, r: RangeRequest) -> rpc_pb2.RangeResponse:
    """A Range answered from `store`, as etcd answers it; raises COMPACTED or FUTURE_REV."""
    try:
        at = store.readable(r.revision)
        found = list(store.range(_keys(r.key, r.range_end), at))
    except FutureRevision:
        raise errors.FUTURE_REV from None
    except CompactedRevision:
        raise errors.COMPACTED from None
    response = rpc_pb2.RangeResponse(count=len(found))
    response.header.revision = at
    if r.count_only:
        return response
    found = [(k, rec) for k, rec in found if _passes_filters(rec, r)]
    found = _sorted(found, r)
    if r.limit > 0 and len(found) > r.limit:
        found = found[: r.limit]
        response.more = True
    response.kvs.extend(key_value(k, rec, keys_only=r.keys_only) for k, rec in found)
    return response


def key_value(key: bytes, record: Record, keys_only: bool = False) -> mvccpb.KeyValue:
    return mvccpb.KeyValue(
        key=key,
        create_revision=record.create_revision,
        mod_revision=record.mod_revision,
        version=record.version,
        value=b"" if keys_only else record.value,
        lease=record.lease,
    )


# -- choosing the branch ----------------------------------------------------------------


def _branches(store: Store, request: rpc_pb2.TxnRequest) -> list[bool]:
    """Which branch each txn takes, in the order they run: this one first, then each
    nested txn of the branch taken (etcd's txnPath)."""
    succeeded = all(_holds(store, c) for c in request.compare)
    path = [succeeded]
    for op in _ops(request, succeeded):
        if op.WhichOneof("request") == "request_txn":
            path.extend(_branches(store, op.request_txn))
    return path


def _holds(store: Store, c: rpc_pb2.Compare) -> bool:
    found = [rec for _, rec in store.range(_keys(c.key, c.range_end))]
    if not found:
        # A missing key compares as a record of zeros; but it has no value to compare.
        return c.target != Compare.VALUE and _compares(c, Record(b"", 0, 0, 0))
    return all(_compares(c, rec) for rec in found)


def _compares(c: rpc_pb2.Compare, record: Record) -> bool:
    ours: int | bytes
    theirs: int | bytes
    if c.target == Compare.VALUE:
        ours, theirs = record.value, c.value
    elif c.target == Compare.CREATE:
        ours, theirs = record.create_revision, c.create_revision
    elif c.target == Compare.MOD:
        ours, theirs = record.mod_revision, c.mod_revision
    elif c.target == Compare.VERSION:
        ours, theirs = record.version, c.version
    else:
        ours, theirs = record.lease, c.lease
    if c.result == Compare.EQUAL:
        return ours == theirs
    if c.result == Compare.NOT_EQUAL:
        return ours != theirs
    if c.result == Compare.GREATER:
        return ours > theirs  # type: ignore[operator]  # both ints or both bytes
    return ours < theirs  # type: ignore[operator]


def _ops(request: rpc_pb2.TxnRequest, succeeded: bool) -> list[rpc_pb2.RequestOp]:
    return list(request.success if succeeded else request.failure)


# -- checking the branch before anything changes ------------------------------------------


def _check(store: Store, leases: Leases, request: rpc_pb2.TxnRequest, path: list[bool]) -> None:
    succeeded = path.pop(0)
    for op in _ops(request, succeeded):
        kind = op.WhichOneof("request")
        if kind == "request_range":
            _check_range(store, op.request_range)
        elif kind == "request_put":
            _check_put(store, leases, op.request_put)
        elif kind == "request_txn":
            _check(store, leases, op.request_txn, path)


def _check_range(store: Store, r: RangeRequest) -> None:
    if r.revision > store.revision:
        raise errors.FUTURE_REV
    if 0 < r.revision < store.compacted:
        raise errors.COMPACTED


def _check_put(store: Store, leases: Leases, p: rpc_pb2.PutRequest) -> None:
    if p.lease and not leases.exists(p.lease):
        raise errors.LEASE_NOT_FOUND
    if (p.ignore_value or p.ignore_lease) and store.get(p.key) is None:
        raise errors.KEY_NOT_FOUND


# -- running the branch -----------------------------------------------------------------


def _execute(
    store: Store, leases: Leases, request: rpc_pb2.TxnRequest, path: list[bool], revision: int
) -> rpc_pb2.TxnResponse:
    succeeded = path.pop(0)
    response = rpc_pb2.TxnResponse(succeeded=succeeded)
    for op in _ops(request, succeeded):
        kind = op.WhichOneof("request")
        if kind == "request_range":
            read = _in_txn_read(store, op.request_range, revision)
            response.responses.add(response_range=read)
        elif kind == "request_put":
            response.responses.add(response_put=_put(store, leases, op.request_put, revision))
        elif kind == "request_delete_range":
            deleted = _delete_range(store, leases, op.request_delete_range, revision)
            response.responses.add(response_delete_range=deleted)
        elif kind == "request_txn":
            nested = _execute(store, leases, op.request_txn, path, revision)
            response.responses.add(response_txn=nested)
        else:
            response.responses.add()  # an empty op: an empty answer, as etcd gives
    return response


def _in_txn_read(store: Store, r: RangeRequest, revision: int) -> rpc_pb2.RangeResponse:
    """A read inside a txn sees the txn's earlier writes: the store's current records are
    already theirs, though its revision moves only when the txn ends."""
    if r.revision == 0 and _wrote(store, revision):
        saved = store.revision
        store.revision = revision  # reads at "now" see current records
        try:
            return range_response(store, r)
        finally:
            store.revision = saved
    return range_response(store, r)


def _put(store: Store, leases: Leases, p: rpc_pb2.PutRequest, revision: int) -> rpc_pb2.PutResponse:
    old = store.get(p.key)
    value = old.value if p.ignore_value and old else p.value
    lease = old.lease if p.ignore_lease and old else p.lease
    response = rpc_pb2.PutResponse()
    if p.prev_kv and old is not None:
        response.prev_kv.CopyFrom(key_value(p.key, old))
    if old is not None and old.lease and old.lease != lease:
        leases.detach(old.lease, p.key)
    store.put(revision, p.key, value, lease)
    if lease:
        leases.attach(lease, p.key)
    response.header.revision = revision
    return response


def _delete_range(
    store: Store, leases: Leases, d: rpc_pb2.DeleteRangeRequest, revision: int
) -> rpc_pb2.DeleteRangeResponse:
    doomed = list(store.range(_keys(d.key, d.range_end)))
    response = rpc_pb2.DeleteRangeResponse(deleted=len(doomed))
    if d.prev_kv:
        response.prev_kvs.extend(key_value(k, rec) for k, rec in doomed)
    for key, record in doomed:
        store.delete(revision, key)
        if record.lease:
            leases.detach(record.lease, key)
    response.header.revision = revision if doomed else store.revision
    return response


# -- ranges -----------------------------------------------------------------------------


def _keys(key: bytes, range_end: bytes) -> KeyRange:
    return KeyRange(key, range_end)


def _passes_filters(record: Record, r: RangeRequest) -> bool:
    return not (
        (r.max_mod_revision and record.mod_revision > r.max_mod_revision)
        or (r.min_mod_revision and record.mod_revision < r.min_mod_revision)
        or (r.max_create_revision and record.create_revision > r.max_create_revision)
        or (r.min_create_revision and record.create_revision < r.min_create_revision)
    )


_SORT_KEYS: dict[int, Callable[[tuple[bytes, Record]], int | bytes]] = {
    RangeRequest.KEY: lambda kr: kr[0],
    RangeRequest.VERSION: lambda kr: kr[1].version,
    RangeRequest.CREATE: lambda kr: kr[1].create_revision,
    RangeRequest.MOD: lambda kr: kr[1].mod_revision,
    RangeRequest.VALUE: lambda kr: kr[1].value,
}


def _sorted(found: list[tuple[bytes, Record]], r: RangeRequest) -> list[tuple[bytes, Record]]:
    order = r.sort_order
    if r.sort_target != RangeRequest.KEY and order == RangeRequest.NONE:
        order = RangeRequest.ASCEND  # etcd: a target without an order sorts ascending
    if order == RangeRequest.NONE or (
        r.sort_target == RangeRequest.KEY and order == RangeRequest.ASCEND
    ):
        return found  # already in key order
    by = _SORT_KEYS[r.sort_target]
    return sorted(found, key=by, reverse=order == RangeRequest.DESCEND)


def _wrote(store: Store, revision: int) -> bool:
    """Whether the txn writing at `revision` has changed anything yet."""
    return bool(store.changes) and store.changes[-1].revision == revision
