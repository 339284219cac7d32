"""etcd's checks before a request is proposed: bad input gets etcd's own code and text."""

from __future__ import annotations

import grpc
import pytest
from etcdapi.etcdserverpb import rpc_pb2

from services.kv.etcd import checks, errors
from services.runtime.errors import ForeignError


def put(key: bytes, **fields: object) -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, **fields))


def delete(key: bytes, range_end: bytes = b"") -> rpc_pb2.RequestOp:
    return rpc_pb2.RequestOp(
        request_delete_range=rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (rpc_pb2.TxnRequest(success=[put(b"a"), put(b"a")]), errors.DUPLICATE_KEY),
        (rpc_pb2.TxnRequest(success=[put(b"ab"), delete(b"a", b"b")]), errors.DUPLICATE_KEY),
        (rpc_pb2.TxnRequest(success=[put(b"k")] * 129), errors.TOO_MANY_OPS),
        (rpc_pb2.TxnRequest(success=[put(b"")]), errors.EMPTY_KEY),
        (
            rpc_pb2.TxnRequest(success=[put(b"k", value=b"v", ignore_value=True)]),
            errors.VALUE_PROVIDED,
        ),
        (
            rpc_pb2.TxnRequest(success=[put(b"k", lease=7, ignore_lease=True)]),
            errors.LEASE_PROVIDED,
        ),
    ],
)
def test_a_bad_txn_gets_etcds_error(request_: rpc_pb2.TxnRequest, expected: ForeignError) -> None:
    with pytest.raises(ForeignError) as refused:
        checks.check_txn(request_)
    assert refused.value == expected


def test_the_alternatives_of_a_nested_txn_may_write_the_same_key() -> None:
    nested = rpc_pb2.TxnRequest(success=[put(b"a")], failure=[put(b"a")])
    checks.check_txn(rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_txn=nested)]))


def test_errors_carry_etcds_exact_code_and_text() -> None:
    assert errors.DUPLICATE_KEY.code == grpc.StatusCode.INVALID_ARGUMENT
    assert errors.DUPLICATE_KEY.message == "etcdserver: duplicate key given in txn request"
    assert errors.NO_LEADER.code == grpc.StatusCode.UNAVAILABLE
    oversized = rpc_pb2.PutRequest(key=b"k", value=b"x" * (checks.MAX_REQUEST_BYTES + 1))
    with pytest.raises(ForeignError) as refused:
        checks.check_size(oversized)
    assert refused.value.message == "etcdserver: request is too large"
