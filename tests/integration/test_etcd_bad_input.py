"""Bad input to the etcd API, sent as raw gRPC to a real etcd (Debian's etcd-server) and to
faultlab side by side: the same status code and the same text from both, and nothing
stored changes (the revision stays where it was)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from chaos.pytest_plugin import make_cluster, running
from cluster.etcd_peer import etcd_cluster
from services.runtime.topology import Group
from tests.integration.etcdctl import endpoints, tool

pytestmark = pytest.mark.integration
CALL_S = 10.0
Op = rpc_pb2.RequestOp
Put = rpc_pb2.PutRequest


def put_op(key: bytes) -> Any:
    return Op(request_put=Put(key=key, value=b"v"))


# name -> what to send: (method, request)
BAD: dict[str, tuple[str, Any]] = {
    # Above 2 MiB etcd's gRPC server refuses the message itself (RESOURCE_EXHAUSTED);
    # faultlab's takes up to 8 MiB and answers "request is too large" (docs/etcd.md).
    "a put of 1.8 MiB": ("Put", Put(key=b"big", value=b"x" * (1800 * 1024))),
    "a put with no key": ("Put", Put(key=b"", value=b"v")),
    "a put on an unknown lease": ("Put", Put(key=b"k", value=b"v", lease=1234)),
    "ignore_value with a value": ("Put", Put(key=b"k", value=b"v", ignore_value=True)),
    "ignore_value on a missing key": ("Put", Put(key=b"missing", ignore_value=True)),
    "a range at a future revision": ("Range", rpc_pb2.RangeRequest(key=b"k", revision=10**6)),
    "a range at a compacted revision": ("Range", rpc_pb2.RangeRequest(key=b"k", revision=1)),
    "a range with no key": ("Range", rpc_pb2.RangeRequest(key=b"")),
    "a txn of 129 puts": (
        "Txn",
        rpc_pb2.TxnRequest(success=[put_op(b"t%d" % i) for i in range(129)]),
    ),
    "a txn putting one key twice": (
        "Txn",
        rpc_pb2.TxnRequest(success=[put_op(b"d"), put_op(b"d")]),
    ),
    "a compaction of the future": ("Compact", rpc_pb2.CompactionRequest(revision=10**6)),
    "a compaction already done": ("Compact", rpc_pb2.CompactionRequest(revision=2)),
    "a revoke of an unknown lease": ("LeaseRevoke", rpc_pb2.LeaseRevokeRequest(ID=1234)),
    "a lease of too long a TTL": ("LeaseGrant", rpc_pb2.LeaseGrantRequest(TTL=10**10)),
}
# The answers that are not refusals, though the request was odd: the same on both too.
ODD: dict[str, tuple[str, Any]] = {
    "a range whose end is below its key": (
        "Range",
        rpc_pb2.RangeRequest(key=b"z", range_end=b"a"),
    ),
    "a delete whose end is below its key": (
        "DeleteRange",
        rpc_pb2.DeleteRangeRequest(key=b"z", range_end=b"a"),
    ),
    "a time-to-live of an unknown lease": (
        "LeaseTimeToLive",
        rpc_pb2.LeaseTimeToLiveRequest(ID=1234),
    ),
}


@pytest.fixture
def real_etcd(tmp_path: Path) -> Iterator[str]:
    tool("etcd")
    with etcd_cluster(tmp_path / "etcd", members=1) as etcd:
        yield etcd.endpoints


@pytest.fixture
def faultlab_kv(tmp_path: Path) -> Iterator[str]:
    with running(make_cluster(tmp_path / "faultlab", (Group("kv", 3),))) as cluster:
        yield endpoints(cluster)[0]


class Endpoint:
    """One etcd API endpoint, prepared the same way: keys k (twice) and z, compacted at 3."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.kv = rpc_pb2_grpc.KVStub(channel)
        self.lease = rpc_pb2_grpc.LeaseStub(channel)
        self.watch = rpc_pb2_grpc.WatchStub(channel)

    async def prepare(self) -> None:
        for key in (b"k", b"k", b"z"):
            await self.kv.Put(Put(key=key, value=b"v"), timeout=CALL_S)
        await self.kv.Compact(rpc_pb2.CompactionRequest(revision=3), timeout=CALL_S)

    def method(self, name: str) -> Callable[..., Awaitable[Any]]:
        stub = self.lease if name.startswith("Lease") else self.kv
        method: Callable[..., Awaitable[Any]] = getattr(stub, name)
        return method

    async def revision(self) -> int:
        answer = await self.kv.Range(rpc_pb2.RangeRequest(key=b"k"), timeout=CALL_S)
        return int(answer.header.revision)

    async def refusal(self, name: str, request: Any) -> tuple[str, str]:
        try:
            await self.method(name)(request, timeout=CALL_S)
        except grpc.aio.AioRpcError as e:
            return e.code().name, e.details() or ""
        return "OK", ""

    async def answer(self, name: str, request: Any) -> Any:
        answer = await self.method(name)(request, timeout=CALL_S)
        answer.ClearField("header")
        return answer


@pytest.fixture
async def both(real_etcd: str, faultlab_kv: str) -> AsyncIterator[tuple[Endpoint, Endpoint]]:
    channels = [grpc.aio.insecure_channel(real_etcd), grpc.aio.insecure_channel(faultlab_kv)]
    ends = (Endpoint(channels[0]), Endpoint(channels[1]))
    await asyncio.gather(*(e.prepare() for e in ends))
    yield ends
    for channel in channels:
        await channel.close()


async def test_bad_input_gets_etcds_status_and_text_and_changes_nothing(
    both: tuple[Endpoint, Endpoint],
) -> None:
    etcd, faultlab = both
    before = [await etcd.revision(), await faultlab.revision()]
    assert before[0] == before[1]
    for what, (method, request) in BAD.items():
        theirs = await etcd.refusal(method, request)
        assert theirs[0] != "OK", f"etcd took {what}"
        assert await faultlab.refusal(method, request) == theirs, what
    for what, (method, request) in ODD.items():
        assert await faultlab.answer(method, request) == await etcd.answer(method, request), what
    assert [await etcd.revision(), await faultlab.revision()] == before


async def test_watch_bad_input_is_answered_as_etcd_answers_it(
    both: tuple[Endpoint, Endpoint],
) -> None:
    """An empty range is created-and-canceled with etcd's reason; a compacted start is
    canceled with compact_revision; a cancel of an unknown id is ignored."""
    answers = []
    for end in both:
        requests: asyncio.Queue[rpc_pb2.WatchRequest] = asyncio.Queue()

        async def sending(queue: asyncio.Queue[rpc_pb2.WatchRequest] = requests) -> Any:
            while True:
                yield await queue.get()

        call = end.watch.Watch(sending(), timeout=CALL_S)
        creates = [
            rpc_pb2.WatchCreateRequest(key=b"z", range_end=b"a"),
            rpc_pb2.WatchCreateRequest(key=b"k", start_revision=1),
            rpc_pb2.WatchCreateRequest(key=b"k"),
        ]
        for create in creates:
            await requests.put(rpc_pb2.WatchRequest(create_request=create))
        await requests.put(
            rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=77))
        )
        await requests.put(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
        got = []
        for _ in range(5):
            response = await call.read()
            response.ClearField("header")
            got.append(response)
        call.cancel()
        answers.append(got)
    # The same responses; a compacted watch's cancel may come before or after the others
    # (etcd sends it from its sync loop), so in no particular order.
    theirs, ours = (sorted(r.SerializeToString(deterministic=True) for r in a) for a in answers)
    assert ours == theirs, answers
