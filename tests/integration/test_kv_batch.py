"""KV.Batch and the SDK's BatchingKv on a real cluster: many writes to one request and one
Raft entry, answered exactly as the same unary calls would be."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2

from chaos.pytest_plugin import make_cluster, running
from cluster.client import BatchingKv, KvClient, errors
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until_async
from services.runtime.errors import Reason
from services.runtime.topology import Group
from tests.integration.kvcheck import direct_stub

pytestmark = pytest.mark.integration
Put = kv_pb2.PutRequest


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path_factory.mktemp("batch"), (Group("kv", 3),))) as cluster:
        yield cluster


@pytest.fixture
def kv3(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as cluster:
        yield cluster


def client(cluster: LocalCluster, **kw: object) -> KvClient:
    return KvClient.for_topology(cluster.topology, **kw)  # type: ignore[arg-type]


async def test_concurrent_writes_share_requests_and_each_gets_its_own_answer(
    shared: LocalCluster,
) -> None:
    async with client(shared) as kv, BatchingKv(kv) as store:
        puts = await asyncio.gather(*(store.put(f"b/{i}", str(i).encode()) for i in range(300)))
        assert store.requests < 300  # writes waiting behind a request share the next
        assert len({p.revision for p in puts}) == 300  # one revision each, as unary puts
        assert all(p.kv.value == str(i).encode() for i, p in enumerate(puts))
        appended = await store.append("b/0", b"+")
        swapped = await store.cas("b/1", 1, b"swapped")
        missed = await store.cas("b/2", 7, b"never")
        deleted = await store.delete("b/3")
        assert appended.kv.value == b"0+" and appended.kv.version == 2
        assert swapped.succeeded and not missed.succeeded and missed.kv.value == b"2"
        assert deleted.deleted
        assert (await kv.get("b/1")).kv.value == b"swapped"
        assert not (await kv.get("b/3")).found


async def test_a_refused_op_raises_what_the_unary_call_would_and_the_rest_apply(
    shared: LocalCluster,
) -> None:
    async with client(shared) as kv, BatchingKv(kv) as store:
        await kv.put("fenced/x", b"holder 5", fence=("lock-b", 5))
        stale, fresh = await asyncio.gather(
            store.put("fenced/x", b"holder 3", fence=("lock-b", 3)),
            store.put("fenced/y", b"unfenced"),
            return_exceptions=True,
        )
        assert isinstance(stale, grpc.aio.AioRpcError)
        assert stale.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert errors.reason_of(stale) == Reason.Value("FENCED") and errors.definite(stale)
        assert "below the highest seen, 5" in (stale.details() or "")
        assert isinstance(fresh, kv_pb2.PutResponse)
        assert (await kv.get("fenced/x")).kv.value == b"holder 5"
        assert (await kv.get("fenced/y")).kv.value == b"unfenced"


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([], "1..1000 ops, not 0"),
        ([kv_pb2.WriteOp(put=Put(key="a", value=b"1"))] * 1001, "1..1000 ops, not 1001"),
        ([kv_pb2.WriteOp(put=Put(key="a", value=b"1")), kv_pb2.WriteOp()], "op 1 names no write"),
        (
            [kv_pb2.WriteOp(put=Put(key="a", value=b"1")), kv_pb2.WriteOp(put=Put(key=""))],
            "op 1: key must not be empty",
        ),
        (
            [
                kv_pb2.WriteOp(
                    compare_and_swap=kv_pb2.CompareAndSwapRequest(key="a", expected_version=-1)
                )
            ],
            "op 0: expected_version",
        ),
    ],
)
async def test_bad_input_in_any_op_refuses_the_whole_batch(
    shared: LocalCluster, ops: list[kv_pb2.WriteOp], message: str
) -> None:
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)
    async with channel:
        before = await stub.Get(kv_pb2.GetRequest(key="a"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Batch(kv_pb2.BatchRequest(ops=ops), timeout=5)
        after = await stub.Get(kv_pb2.GetRequest(key="a"), timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (e.value.details() or "")
    assert after.revision == before.revision, "a refused batch changed the store"


async def test_a_retried_batch_in_one_session_applies_once(shared: LocalCluster) -> None:
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)
    appends = [kv_pb2.WriteOp(append=kv_pb2.AppendRequest(key="once/b", value=b"x"))] * 3
    request = kv_pb2.BatchRequest(ops=appends, session=kv_pb2.Session(client_id="b1", seq=1))
    async with channel:
        first = await stub.Batch(request, timeout=5)
        retry = await stub.Batch(request, timeout=5)  # as after a lost response
        got = await stub.Get(kv_pb2.GetRequest(key="once/b"), timeout=5)
    assert retry == first
    assert got.kv.value == b"xxx" and got.revision == first.results[-1].append.revision


async def test_a_batch_below_its_sessions_last_seq_is_refused_and_applies_nothing(
    shared: LocalCluster,
) -> None:
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)
    put = [kv_pb2.WriteOp(put=Put(key="stale/b", value=b"new"))]
    async with channel:
        await stub.Batch(
            kv_pb2.BatchRequest(ops=put, session=kv_pb2.Session(client_id="b2", seq=2)), timeout=5
        )
        before = await stub.Get(kv_pb2.GetRequest(key="stale/b"), timeout=5)
        late = kv_pb2.BatchRequest(ops=put, session=kv_pb2.Session(client_id="b2", seq=1))
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Batch(late, timeout=5)
        after = await stub.Get(kv_pb2.GetRequest(key="stale/b"), timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at or below 1, which the client acknowledged" in (e.value.details() or "")
    assert after.revision == before.revision


async def test_batched_appends_survive_a_leader_kill_once_each(kv3: LocalCluster) -> None:
    """Batches in flight when the leader dies are retried on the next leader; their
    session makes a retry of a batch that did land apply nothing twice."""
    tokens = [f"<{i}>".encode() for i in range(600)]
    async with (
        client(kv3, timeout_s=1.0, attempts=30) as kv,
        BatchingKv(kv, max_batch=20) as store,
    ):
        await kv.put("survivor", b"")
        old_leader = kv3.wait_for_leader()

        async def append(token: bytes) -> bytes:
            await store.append("survivor", token)
            return token

        writers = [asyncio.create_task(append(t)) for t in tokens]

        async def some_answered() -> bool:  # batches are flowing: the next is in flight
            return sum(w.done() for w in writers) >= 100

        await wait_until_async(some_answered, 10, "the first batches answered", 0.001)
        await asyncio.to_thread(kv3.kill, old_leader)
        killed_at = time.monotonic()
        done = await asyncio.gather(*writers)
        assert store.requests >= 30  # 20 to a batch
        print(f"all batches answered {time.monotonic() - killed_at:.2f}s after the kill")
        value = (await kv.get("survivor")).kv.value
    assert kv.leader != old_leader
    for token in done:
        assert value.count(token) == 1, f"{token!r} applied {value.count(token)} times"
