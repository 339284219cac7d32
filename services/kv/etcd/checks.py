"""etcd's checks on a request before it is proposed (etcd's v3rpc key.go): bad input gets
etcd's error at once and nothing is proposed."""

from __future__ import annotations

from etcdapi.etcdserverpb import rpc_pb2
from etcdapi.etcdserverpb.rpc_pb2 import RangeRequest

from services.kv.etcd import errors
from services.kv.mvcc import KeyRange

MAX_TXN_OPS = 128  # etcd's --max-txn-ops default
MAX_REQUEST_BYTES = 1536 * 1024  # etcd's --max-request-bytes default (1.5 MiB)


def check_size(request: rpc_pb2.PutRequest | rpc_pb2.TxnRequest) -> None:
    if request.ByteSize() > MAX_REQUEST_BYTES:
        raise errors.REQUEST_TOO_LARGE


def check_range(r: RangeRequest) -> None:
    if not r.key:
        raise errors.EMPTY_KEY
    if r.sort_order not in RangeRequest.SortOrder.values():
        raise errors.INVALID_SORT_OPTION
    if r.sort_target not in RangeRequest.SortTarget.values():
        raise errors.INVALID_SORT_OPTION


def check_put(p: rpc_pb2.PutRequest) -> None:
    if not p.key:
        raise errors.EMPTY_KEY
    if p.ignore_value and p.value:
        raise errors.VALUE_PROVIDED
    if p.ignore_lease and p.lease:
        raise errors.LEASE_PROVIDED


def check_delete(d: rpc_pb2.DeleteRangeRequest) -> None:
    if not d.key:
        raise errors.EMPTY_KEY


def check_txn(t: rpc_pb2.TxnRequest) -> None:
    _check_ops(t)
    _writes(t.success)
    _writes(t.failure)


def _check_ops(t: rpc_pb2.TxnRequest) -> None:
    if max(len(t.compare), len(t.success), len(t.failure)) > MAX_TXN_OPS:
        raise errors.TOO_MANY_OPS
    for c in t.compare:
        if not c.key:
            raise errors.EMPTY_KEY
    for op in (*t.success, *t.failure):
        kind = op.WhichOneof("request")
        if kind == "request_range":
            check_range(op.request_range)
        elif kind == "request_put":
            check_put(op.request_put)
        elif kind == "request_delete_range":
            check_delete(op.request_delete_range)
        elif kind == "request_txn":
            _check_ops(op.request_txn)


def _writes(ops: list[rpc_pb2.RequestOp]) -> tuple[set[bytes], list[KeyRange]]:
    """The keys a branch puts and the ranges it deletes; DUPLICATE_KEY if it puts a key
    twice or puts a key it also deletes, as etcd refuses (a nested txn's two branches are
    alternatives: each is checked against the rest on its own)."""
    puts: set[bytes] = set()
    deletes: list[KeyRange] = []
    for op in ops:
        kind = op.WhichOneof("request")
        if kind == "request_put":
            if op.request_put.key in puts:
                raise errors.DUPLICATE_KEY
            puts.add(op.request_put.key)
        elif kind == "request_delete_range":
            d = op.request_delete_range
            deletes.append(KeyRange(d.key, d.range_end))
        elif kind == "request_txn":
            for branch in (op.request_txn.success, op.request_txn.failure):
                nested_puts, nested_deletes = _writes(list(branch))
                if nested_puts & puts:
                    raise errors.DUPLICATE_KEY
                puts_seen = puts | nested_puts
                if any(key in d for key in puts_seen for d in nested_deletes):
                    raise errors.DUPLICATE_KEY
            for branch in (op.request_txn.success, op.request_txn.failure):
                puts |= _writes(list(branch))[0]  # its deletes were checked just above
    if any(key in d for key in puts for d in deletes):
        raise errors.DUPLICATE_KEY
    return puts, deletes
