"""One etcd watcher over the KV state machine, as pure code: history then live, whole
revisions per response, filters and prev_kv, catching up after falling behind, and the
compacted start etcd answers with compact_revision."""

from __future__ import annotations

import asyncio

import pytest
from etcdapi.etcdserverpb import rpc_pb2
from etcdapi.mvccpb import kv_pb2 as mvccpb

from services.kv import commands
from services.kv.commands import EtcdCompact, EtcdTxn, KvCommand, Put
from services.kv.etcd import watcher as watcher_module
from services.kv.etcd.watcher import Wanted, Watcher, empty_range
from services.kv.state import KvState

Create = rpc_pb2.WatchCreateRequest


def apply(state: KvState, cmd: KvCommand) -> None:
    state.apply(1, commands.encode(cmd))


def txn(state: KvState, *puts: tuple[bytes, bytes], delete: bytes = b"") -> None:
    ops = [rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k, value=v)) for k, v in puts]
    if delete:
        ops.append(rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=delete)))
    apply(state, EtcdTxn(rpc_pb2.TxnRequest(success=ops).SerializeToString()))


def events(response: rpc_pb2.WatchResponse) -> list[tuple[int, bytes, int]]:
    return [(e.type, e.kv.key, e.kv.mod_revision) for e in response.events]


async def take(watcher: Watcher, count: int) -> list[rpc_pb2.WatchResponse]:
    responses = watcher.responses()
    got = [await asyncio.wait_for(anext(responses), 1.0) for _ in range(count)]
    await responses.aclose()
    return got


PUT, DELETE = mvccpb.Event.PUT, mvccpb.Event.DELETE


async def test_history_then_live_each_txn_in_one_response() -> None:
    state = KvState()
    txn(state, (b"a", b"1"))  # revision 2
    txn(state, (b"a", b"2"), (b"b", b"1"))  # revision 3: one response
    watcher = Watcher(7, Wanted.of(Create(key=b"a", range_end=b"c", start_revision=2)), state)
    responses = watcher.responses()
    first = await anext(responses)
    assert first.watch_id == 7
    assert events(first) == [(PUT, b"a", 2), (PUT, b"a", 3), (PUT, b"b", 3)]
    txn(state, (b"b", b"2"), delete=b"a")  # revision 4, live
    live = await asyncio.wait_for(anext(responses), 1.0)
    assert events(live) == [(PUT, b"b", 4), (DELETE, b"a", 4)]
    assert live.events[1].kv.value == b"" and live.header.revision == 4
    await responses.aclose()
    assert not state.listeners  # closed: it stopped listening


async def test_filters_and_prev_kv() -> None:
    state = KvState()
    create = Create(key=b"k", start_revision=1, prev_kv=True, filters=[Create.NODELETE])
    apply(state, Put("k", b"1"))
    apply(state, Put("k", b"2"))
    txn(state, delete=b"k")
    [response] = await take(Watcher(0, Wanted.of(create), state), 1)
    assert events(response) == [(PUT, b"k", 2), (PUT, b"k", 3)]
    assert not response.events[0].HasField("prev_kv")
    assert response.events[1].prev_kv.value == b"1"


async def test_a_watcher_that_falls_behind_catches_up_from_history_without_a_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watcher_module, "QUEUE", 3)
    state = KvState()
    watcher = Watcher(0, Wanted.of(Create(key=b"k", range_end=b"l")), state)
    responses = watcher.responses()
    first = asyncio.ensure_future(anext(responses))
    while not state.listeners:  # until it listens: one turn of the loop
        await asyncio.sleep(0)
    for i in range(10):  # revisions 2..11, while it sends nothing
        txn(state, (b"k%d" % i, b"v"), (b"kk%d" % i, b"v"))
    revisions = [e.kv.mod_revision for e in (await first).events]
    while len(revisions) < 20:
        response = await asyncio.wait_for(anext(responses), 1.0)
        revisions += [e.kv.mod_revision for e in response.events]
    assert revisions == [r for r in range(2, 12) for _ in range(2)]  # each once, in order
    await responses.aclose()


async def test_a_start_before_the_compaction_is_answered_with_compact_revision() -> None:
    state = KvState()
    for i in range(5):
        apply(state, Put("k", b"%d" % i))
    apply(state, EtcdCompact(4))
    [response] = await take(Watcher(3, Wanted.of(Create(key=b"k", start_revision=2)), state), 1)
    assert response.canceled and response.compact_revision == 4 and not response.events


async def test_fragments_stay_under_the_request_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "MAX_REQUEST_BYTES", 130)  # two events each
    state = KvState()
    txn(state, *[(b"k%d" % i, b"x" * 40) for i in range(5)])
    create = Create(key=b"k", range_end=b"l", start_revision=1, fragment=True)
    responses = await take(Watcher(0, Wanted.of(create), state), 3)
    assert [r.fragment for r in responses] == [True, True, False]
    assert sum(len(r.events) for r in responses) == 5


def test_an_empty_range_is_refused_and_nul_means_everything_from_the_key() -> None:
    assert empty_range(Create(key=b"b", range_end=b"a"))
    assert empty_range(Create(key=b"b", range_end=b"b"))
    assert not empty_range(Create(key=b"b", range_end=b"\0"))
    assert not empty_range(Create(key=b"b"))
