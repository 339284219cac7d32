"""etcd's leases in the KV state machine, as pure code: grant, keep-alive, revoke, expiry
on the leader clock's time, a new leader's grace, and snapshots."""

from __future__ import annotations

from typing import Any

from etcdapi.etcdserverpb import rpc_pb2

from services.kv import commands
from services.kv.commands import (
    EtcdTxn,
    KvCommand,
    LeaseExpire,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseLead,
    LeaseRevoke,
    Put,
)
from services.kv.etcd import errors
from services.kv.leases import MAX_TTL_S, MIN_TTL_S
from services.kv.mvcc import Change
from services.kv.state import KvState
from services.replicated.codec import pack, unpack


def apply(state: KvState, cmd: KvCommand, index: int = 1) -> Any:
    return state.apply(index, commands.encode(cmd))


def put(state: KvState, key: bytes, lease: int) -> Any:
    txn = rpc_pb2.TxnRequest(
        success=[
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=b"v", lease=lease))
        ]
    )
    return apply(state, EtcdTxn(txn.SerializeToString()))


def test_a_lease_granted_without_an_id_gets_one_from_its_index_and_the_same_on_every_replica() -> (
    None
):
    a, b = KvState(), KvState()
    granted = apply(a, LeaseGrant(0, 10, 1000), index=7)
    assert granted == apply(b, LeaseGrant(0, 10, 1000), index=7)
    assert granted.ID > 0 and granted.TTL == 10
    assert apply(a, LeaseGrant(granted.ID, 10, 1000), index=8) == errors.LEASE_EXIST
    assert apply(a, LeaseGrant(0, MAX_TTL_S + 1, 1000)) == errors.LEASE_TTL_TOO_LARGE
    assert apply(a, LeaseGrant(5, 1, 1000)).TTL == MIN_TTL_S  # raised, as etcd raises it


def test_revoking_deletes_every_key_of_the_lease_in_one_revision() -> None:
    state = KvState()
    seen: list[Change] = []
    state.listeners.add(seen.append)
    apply(state, LeaseGrant(5, 10, 0))
    put(state, b"a", 5)
    put(state, b"b", 5)
    put(state, b"c", 0)
    before = state.revision
    assert apply(state, LeaseRevoke(5)).header.revision == before + 1
    assert [(c.key, c.revision, c.deleted) for c in seen[-2:]] == [
        (b"a", before + 1, True),
        (b"b", before + 1, True),
    ]
    assert set(state.data) == {b"c"}
    assert apply(state, LeaseRevoke(5)) == errors.LEASE_NOT_FOUND
    assert put(state, b"d", 5) == errors.LEASE_NOT_FOUND  # a put on a lease that is gone


def test_a_key_put_again_without_the_lease_outlives_it() -> None:
    state = KvState()
    apply(state, LeaseGrant(5, 10, 0))
    put(state, b"a", 5)
    put(state, b"a", 0)
    apply(state, LeaseRevoke(5))
    assert b"a" in state.data


def test_expiry_is_judged_again_when_applied_so_a_keep_alive_ordered_first_wins() -> None:
    state = KvState()
    apply(state, LeaseGrant(5, 2, 0))  # expires at 2000
    put(state, b"a", 5)
    assert state.leases.due(2000) == [5]
    assert apply(state, LeaseKeepAlive(5, 1500)).TTL == 2  # now expires at 3500
    assert apply(state, LeaseExpire((5,), 2000)) == []
    assert b"a" in state.data
    assert apply(state, LeaseExpire((5,), 3500)) == [5]
    assert b"a" not in state.data and not state.leases.leases
    assert apply(state, LeaseKeepAlive(5, 4000)).TTL == 0  # etcd: gone is a TTL of 0


def test_a_new_leader_extends_every_lease_one_ttl_past_the_logs_clock() -> None:
    state = KvState()
    apply(state, LeaseGrant(5, 3, 0))  # expires at 3000
    apply(state, LeaseKeepAlive(5, 2500))  # 5500; the log's clock is 2500
    apply(state, LeaseGrant(6, 2, 2600))  # 4600; clock 2600
    apply(state, LeaseLead())
    expiries = {i: lease.expires_at_ms for i, lease in state.leases.leases.items()}
    assert expiries == {5: 5600, 6: 4600}


def test_leases_and_their_keys_survive_a_snapshot() -> None:
    state = KvState()
    apply(state, LeaseGrant(5, 10, 100))
    put(state, b"a", 5)
    restored = KvState()
    restored.restore(state.snapshot())
    assert restored.leases.to_map() == state.leases.to_map()
    apply(restored, LeaseRevoke(5))
    assert b"a" not in restored.data


def test_a_snapshot_from_before_leases_restores_with_none() -> None:
    state = KvState()
    apply(state, Put("k", b"v"))
    saved = unpack(state.snapshot())
    del saved["leases"]
    restored = KvState()
    restored.restore(pack(saved))
    assert restored.leases.leases == {} and restored.get("k") is not None
