"""The KV store's versions as etcd keeps them: past revisions, compaction, compares on missing
keys, transactions at one revision, snapshots that keep history; and a property: after any
run of puts, deletes, txns and compactions, every readable revision reads as a simple
model (a copy of the whole store per revision) says."""

from __future__ import annotations

import pytest
from etcdapi.etcdserverpb import rpc_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kv import commands
from services.kv.commands import EtcdCompact, EtcdTxn, Put
from services.kv.etcd import errors
from services.kv.mvcc import KeyRange, prefix_end
from services.kv.state import KvState
from services.runtime.errors import ForeignError

Compare = rpc_pb2.Compare


def txn(state: KvState, request: rpc_pb2.TxnRequest) -> rpc_pb2.TxnResponse | ForeignError:
    answer = state.apply(0, commands.encode(EtcdTxn(request.SerializeToString())))
    assert isinstance(answer, rpc_pb2.TxnResponse | ForeignError), answer
    return answer


def put(state: KvState, key: bytes, value: bytes, **fields: object) -> rpc_pb2.TxnResponse:
    op = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, **fields))
    answer = txn(state, rpc_pb2.TxnRequest(success=[op]))
    assert isinstance(answer, rpc_pb2.TxnResponse), answer
    return answer


def delete(state: KvState, key: bytes, range_end: bytes = b"") -> rpc_pb2.TxnResponse:
    request = rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)
    answer = txn(
        state, rpc_pb2.TxnRequest(success=[rpc_pb2.RequestOp(request_delete_range=request)])
    )
    assert isinstance(answer, rpc_pb2.TxnResponse), answer
    return answer


def compact(state: KvState, revision: int) -> object:
    return state.apply(0, commands.encode(EtcdCompact(revision)))


def read(state: KvState, key: bytes, revision: int = 0, **fields: object) -> rpc_pb2.RangeResponse:
    from services.kv.etcd.txn import range_response

    return range_response(state.store, rpc_pb2.RangeRequest(key=key, revision=revision, **fields))


def test_a_read_at_a_past_revision_sees_the_store_as_it_was_and_delete_resets_version() -> None:
    state = KvState()
    assert state.revision == 1  # an empty store, as etcd's
    put(state, b"a", b"1")  # 2
    put(state, b"a", b"2")  # 3
    delete(state, b"a")  # 4
    put(state, b"a", b"3")  # 5
    assert [(kv.value, kv.version, kv.create_revision) for kv in read(state, b"a", 2).kvs] == [
        (b"1", 1, 2)
    ]
    assert read(state, b"a", 3).kvs[0].version == 2
    assert not read(state, b"a", 4).kvs
    now = read(state, b"a").kvs[0]
    assert (now.value, now.version, now.create_revision, now.mod_revision) == (b"3", 1, 5, 5)
    assert read(state, b"a", 1).header.revision == 1 and not read(state, b"a", 1).kvs


def test_compaction_keeps_the_compact_revision_readable_and_refuses_below_and_beyond() -> None:
    state = KvState()
    for value in (b"1", b"2", b"3"):
        put(state, b"k", value)  # revisions 2, 3, 4
    delete(state, b"gone")  # deletes nothing: the revision stays 4
    assert state.revision == 4
    response = compact(state, 3)
    assert isinstance(response, rpc_pb2.CompactionResponse)
    assert read(state, b"k", 3).kvs[0].value == b"2"
    with pytest.raises(ForeignError) as below:
        read(state, b"k", 2)
    assert below.value == errors.COMPACTED
    assert below.value.message == "etcdserver: mvcc: required revision has been compacted"
    with pytest.raises(ForeignError) as beyond:
        read(state, b"k", 5)
    assert beyond.value.message == "etcdserver: mvcc: required revision is a future revision"
    assert compact(state, 3) == errors.COMPACTED
    assert compact(state, 9) == errors.FUTURE_REV
    assert [c.revision for c in state.store.changes_after(2)] == [3, 4]


def test_compares_on_a_missing_key_see_zeros_but_never_a_value() -> None:
    state = KvState()

    def holds(c: Compare) -> bool:
        answer = txn(state, rpc_pb2.TxnRequest(compare=[c]))
        assert isinstance(answer, rpc_pb2.TxnResponse)
        return answer.succeeded

    assert holds(Compare(key=b"x", target=Compare.VERSION, result=Compare.EQUAL, version=0))
    assert holds(Compare(key=b"x", target=Compare.CREATE, result=Compare.LESS, create_revision=1))
    assert not holds(Compare(key=b"x", target=Compare.VALUE, result=Compare.EQUAL, value=b""))
    put(state, b"x1", b"a")
    put(state, b"x2", b"b")
    every_x = dict(key=b"x", range_end=b"y", target=Compare.VERSION, result=Compare.EQUAL)
    assert holds(Compare(**every_x, version=1))  # type: ignore[arg-type]
    put(state, b"x2", b"c")
    assert not holds(Compare(**every_x, version=1))  # type: ignore[arg-type]


def test_a_txn_writes_at_one_revision_reads_its_own_writes_and_a_failed_check_changes_nothing() -> (
    None
):
    state = KvState()
    put(state, b"k", b"old")  # 2

    def op_put(key: bytes, value: bytes, lease: int = 0) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value, lease=lease))

    nested = rpc_pb2.TxnRequest(
        compare=[Compare(key=b"k", target=Compare.VALUE, result=Compare.EQUAL, value=b"old")],
        success=[op_put(b"b", b"2")],
    )
    request = rpc_pb2.TxnRequest(
        success=[
            op_put(b"a", b"1"),
            rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=b"a")),
            rpc_pb2.RequestOp(request_txn=nested),
        ]
    )
    answer = txn(state, request)
    assert isinstance(answer, rpc_pb2.TxnResponse) and answer.succeeded
    assert answer.header.revision == state.revision == 3
    assert answer.responses[1].response_range.kvs[0].value == b"1"
    assert answer.responses[2].response_txn.succeeded
    assert {kv.mod_revision for key in (b"a", b"b") for kv in read(state, key).kvs} == {3}
    refused = txn(state, rpc_pb2.TxnRequest(success=[op_put(b"c", b"3"), op_put(b"d", b"4", 99)]))
    assert refused == errors.LEASE_NOT_FOUND
    assert state.revision == 3 and not read(state, b"c").kvs


def test_range_count_ignores_limit_and_more_says_there_is_more() -> None:
    state = KvState()
    for i in range(5):
        put(state, b"p/%d" % i, b"v%d" % (4 - i))
    everything = read(state, b"p/", range_end=prefix_end(b"p/"), limit=2)
    assert everything.count == 5 and everything.more and len(everything.kvs) == 2
    by_value = read(
        state,
        b"p/",
        range_end=prefix_end(b"p/"),
        sort_target=rpc_pb2.RangeRequest.VALUE,
        sort_order=rpc_pb2.RangeRequest.ASCEND,
        keys_only=True,
    )
    assert [kv.key for kv in by_value.kvs] == [b"p/4", b"p/3", b"p/2", b"p/1", b"p/0"]
    assert all(kv.value == b"" for kv in by_value.kvs)
    counted = read(state, b"p/", range_end=prefix_end(b"p/"), count_only=True)
    assert counted.count == 5 and not counted.kvs


def test_faultlab_and_etcd_writes_share_one_store_and_a_snapshot_keeps_history() -> None:
    state = KvState()
    state.apply(0, commands.encode(Put("shared", b"faultlab")))  # 2
    put(state, b"shared", b"etcd")  # 3
    assert state.get("shared").value == b"etcd"  # type: ignore[union-attr]
    restored = KvState()
    restored.restore(state.snapshot())
    assert read(restored, b"shared", 2).kvs[0].value == b"faultlab"
    assert restored.store.changes_after(1) == state.store.changes_after(1)
    put(restored, b"shared", b"again")
    assert restored.revision == 4


def test_prefix_end_is_etcds() -> None:
    assert prefix_end(b"a") == b"b"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"
    assert b"b" not in KeyRange(b"a", b"b") and b"a\x00" in KeyRange(b"a", b"b")
    assert b"zzz" in KeyRange(b"a", b"\0")


KEYS = [b"a", b"b", b"c"]
step = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.binary(max_size=3)),
    st.tuples(st.just("del"), st.sampled_from(KEYS), st.just(b"")),
    st.tuples(st.just("del-all"), st.just(b""), st.just(b"")),
    st.tuples(st.just("compact"), st.just(b""), st.just(b"")),
    st.tuples(st.just("snapshot"), st.just(b""), st.just(b"")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40), st.randoms(use_true_random=False))
def test_every_readable_revision_reads_as_the_model_says(steps: list, rnd) -> None:  # type: ignore[no-untyped-def, type-arg]
    state = KvState()
    # The model: the whole store after each revision, as (value, version, create, mod).
    model: dict[int, dict[bytes, tuple[bytes, int, int, int]]] = {1: {}}
    for kind, key, value in steps:
        now = dict(model[state.revision])
        if kind == "put":
            put(state, key, value)
            old = now.get(key)
            version, create = (old[1] + 1, old[2]) if old else (1, state.revision)
            now[key] = (value, version, create, state.revision)
        elif kind in ("del", "del-all"):
            before = state.revision
            delete(state, key or b"\0", b"" if key else b"\0")
            doomed = [key] if key else list(now)
            for k in doomed:
                now.pop(k, None)
            if state.revision == before:
                continue
        elif kind == "compact":
            target = rnd.randint(1, state.revision)
            already = target <= state.store.compacted
            answer = compact(state, target)
            assert (answer == errors.COMPACTED) == already
            continue
        else:
            restored = KvState()
            restored.restore(state.snapshot())
            state = restored
            continue
        model[state.revision] = now
    for revision in range(max(state.store.compacted, 1), state.revision + 1):
        seen = {
            kv.key: (kv.value, kv.version, kv.create_revision, kv.mod_revision)
            for kv in read(state, b"\0", revision, range_end=b"\0").kvs
        }
        expected = model[max(r for r in model if r <= revision)]
        assert seen == expected, f"at revision {revision}"
