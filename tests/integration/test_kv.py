"""The replicated KV store on real processes, real Raft traffic through real Toxiproxy."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2
from faultlab.raft.v1 import raft_pb2, raft_pb2_grpc

from chaos.net import Network
from chaos.pytest_plugin import assert_all_gone, make_cluster, running
from cluster.client import LEASE, STALE, KvClient, SyncKvClient
from cluster.launcher import LauncherError, LocalCluster
from cluster.metrics import sample
from cluster.waiting import wait_until_async
from services.raft.transport import frames
from services.runtime.topology import Group
from tests.integration.kvcheck import direct_stub, follower_knowing

pytestmark = pytest.mark.integration
CasRequest = kv_pb2.CompareAndSwapRequest
Session = kv_pb2.Session


def kv_cluster(tmp_path: Path, **env: str) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),), node_env=env)) as cluster:
        yield cluster


@pytest.fixture
def kv3(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of its own, for tests that kill, cut or restart nodes."""
    yield from kv_cluster(tmp_path)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One healthy cluster for the tests that only read and write (keys do not overlap)."""
    yield from kv_cluster(tmp_path_factory.mktemp("shared"))


def client(cluster: LocalCluster, **kw: object) -> KvClient:
    return KvClient.for_topology(cluster.topology, **kw)  # type: ignore[arg-type]


async def test_basic_operations(shared: LocalCluster) -> None:
    async with client(shared) as kv:
        put = await kv.put("fruit/apple", b"red")
        assert put.kv.version == 1 and put.revision == put.kv.mod_revision
        got = await kv.get("fruit/apple")
        assert got.found and got.kv.value == b"red"
        assert not (await kv.get("fruit/none")).found

        assert not (await kv.cas("fruit/apple", 5, b"green")).succeeded
        swapped = await kv.cas("fruit/apple", 1, b"green")
        assert swapped.succeeded and swapped.kv.version == 2
        assert (await kv.cas("fruit/pear", 0, b"yellow")).succeeded  # 0: create if absent

        ranged = await kv.range("fruit/", limit=1)
        assert [x.key for x in ranged.kvs] == ["fruit/apple"] and ranged.more
        assert [x.key for x in (await kv.range("fruit/")).kvs] == ["fruit/apple", "fruit/pear"]

        deleted = await kv.delete("fruit/apple")
        assert deleted.deleted and not (await kv.delete("fruit/apple")).deleted
        assert not (await kv.get("fruit/apple")).found


async def test_watch_replays_and_follows(shared: LocalCluster) -> None:
    async with client(shared) as kv:
        first = await kv.put("w/a", b"1")
        await kv.put("other", b"x")
        events = kv.watch("w/", start_revision=first.revision)
        seen = [await anext(events)]
        await kv.put("w/b", b"2")
        await kv.delete("w/a")
        seen += [await anext(events), await anext(events)]
        await events.aclose()
    assert [(e.type, e.kv.key) for e in seen] == [
        (kv_pb2.WatchEvent.PUT, "w/a"),
        (kv_pb2.WatchEvent.PUT, "w/b"),
        (kv_pb2.WatchEvent.DELETE, "w/a"),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.Put(kv_pb2.PutRequest(key="", value=b"x")), "must not be empty"),
        (lambda s: s.Put(kv_pb2.PutRequest(key="k" * 1025, value=b"x")), "limit is 1024"),
        (lambda s: s.Put(kv_pb2.PutRequest(key="k", value=b"x" * (1 << 20 | 1))), "is 1048576"),
        (lambda s: s.Get(kv_pb2.GetRequest(key="")), "must not be empty"),
        (lambda s: s.Get(kv_pb2.GetRequest(key="k", consistency=7)), "unknown consistency"),
        (lambda s: s.Delete(kv_pb2.DeleteRequest(key="k" * 2000)), "limit is 1024"),
        (lambda s: s.CompareAndSwap(CasRequest(key="k", expected_version=-1)), "expected_version"),
        (lambda s: s.Range(kv_pb2.RangeRequest(prefix="p" * 1025)), "prefix is longer"),
        (lambda s: s.Range(kv_pb2.RangeRequest(prefix="p", limit=-1)), "outside 0..10000"),
        (lambda s: s.Range(kv_pb2.RangeRequest(prefix="p", limit=10001)), "outside 0..10000"),
        (lambda s: s.Put(kv_pb2.PutRequest(key="k", session=Session(client_id="c"))), "seq >= 1"),
        (lambda s: s.Put(kv_pb2.PutRequest(key="k", fence=kv_pb2.Fence(token=3))), "fence name"),
        (
            lambda s: s.Put(
                kv_pb2.PutRequest(
                    key="k", session=Session(client_id="c", seq=2, first_unanswered=3)
                )
            ),
            "first_unanswered 3 is above seq 2",
        ),
    ],
)
async def test_invalid_arguments_change_nothing(
    shared: LocalCluster, call: object, message: str
) -> None:
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)
    async with channel:
        before = await stub.Get(kv_pb2.GetRequest(key="k"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(stub)  # type: ignore[operator]
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (e.value.details() or "")
        after = await stub.Get(kv_pb2.GetRequest(key="k"), timeout=5)
    assert after.revision == before.revision, "a refused request changed the store"


async def test_a_follower_redirects_to_the_leader(shared: LocalCluster) -> None:
    leader = shared.wait_for_leader()
    follower = follower_knowing(shared, leader)
    channel, stub = direct_stub(shared, follower)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Put(kv_pb2.PutRequest(key="k", value=b"v"), timeout=5)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    metadata = dict(e.value.trailing_metadata() or ())
    assert metadata["leader-id"] == leader
    assert metadata["leader-address"] == shared.topology.client_address(leader)


async def test_a_retried_write_in_one_session_applies_once(shared: LocalCluster) -> None:
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)
    request = kv_pb2.PutRequest(
        key="once", value=b"v", session=kv_pb2.Session(client_id="c1", seq=1)
    )
    async with channel:
        first = await stub.Put(request, timeout=5)
        retry = await stub.Put(request, timeout=5)  # as after a lost response
        got = await stub.Get(kv_pb2.GetRequest(key="once"), timeout=5)
    assert retry.revision == first.revision
    assert got.kv.version == 1 and got.revision == first.revision


async def test_writes_in_flight_together_may_arrive_in_any_order(shared: LocalCluster) -> None:
    """Seqs 1 and 2 in flight at once: 2 lands first, then 1 (a retry, a reorder); both
    apply once, and a retry of either gets its first answer."""
    leader = shared.wait_for_leader()
    channel, stub = direct_stub(shared, leader)

    def append(seq: int, value: bytes) -> kv_pb2.AppendRequest:
        session = kv_pb2.Session(client_id="c2", seq=seq, first_unanswered=1)
        return kv_pb2.AppendRequest(key="reordered", value=value, session=session)

    async with channel:
        second = await stub.Append(append(2, b"b"), timeout=5)
        first = await stub.Append(append(1, b"a"), timeout=5)
        assert await stub.Append(append(2, b"b"), timeout=5) == second
        assert await stub.Append(append(1, b"a"), timeout=5) == first
        got = await stub.Get(kv_pb2.GetRequest(key="reordered"), timeout=5)
    assert got.kv.value == b"ba" and got.kv.version == 2


async def test_a_lower_fencing_token_is_refused(shared: LocalCluster) -> None:
    async with client(shared) as kv:
        await kv.put("fenced", b"from holder 5", fence=("lock-a", 5))
        await kv.put("fenced", b"holder 5 again", fence=("lock-a", 5))
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await kv.put("fenced", b"stale holder 3", fence=("lock-a", 3))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "below the highest seen, 5" in (e.value.details() or "")
        assert (await kv.get("fenced")).kv.value == b"holder 5 again"
        await kv.put("fenced", b"from holder 6", fence=("lock-a", 6))


async def test_a_malformed_raft_message_is_refused_and_harms_nothing(shared: LocalCluster) -> None:
    leader = shared.wait_for_leader()
    if shared.peer_transport == "grpc":
        await _malformed_over_grpc(shared, leader)
    else:
        _malformed_over_frames(shared, leader)
    async with client(shared) as kv:
        await kv.put("after-garbage", b"ok")
        assert (await kv.get("after-garbage")).kv.value == b"ok"
    assert shared.leader() == leader, "garbage on the Raft port deposed nobody"


async def _malformed_over_grpc(shared: LocalCluster, leader: str) -> None:
    async with grpc.aio.insecure_channel(shared.topology.listen_address(leader)) as channel:
        stub = raft_pb2_grpc.RaftStub(channel)
        garbage = raft_pb2.MessageBatch(
            messages=[raft_pb2.Envelope(group="kv", payload=b"\x01junk")]
        )
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Send(iter([garbage]), timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a Raft message" in (e.value.details() or "")
        other_group = raft_pb2.MessageBatch(
            messages=[raft_pb2.Envelope(group="nope", payload=b"x")]
        )
        summary = await stub.Send(iter([other_group]), timeout=5)
        assert summary.received == 0, "messages for a group this node lacks are dropped"


def _malformed_over_frames(shared: LocalCluster, leader: str) -> None:
    """The framed transport closes a connection that sent what is not a Raft message
    (tests/integration/test_raft_frames.py fuzzes it)."""
    peer = next(n.id for n in shared.topology.nodes if n.id != leader)
    address = (shared.topology.host, shared.topology.node(leader).raft_port)
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(frames.hello(peer) + frames.message("kv", b"\x01junk"))
        try:
            closed = s.recv(1) == b""
        except ConnectionResetError:
            closed = True
        assert closed, "the node closes the connection"


def _read_rounds(cluster: LocalCluster, node_id: str, confirmed_by: str) -> float:
    labels = {"confirmed_by": confirmed_by, "group": "kv"}
    return sample(cluster.topology, node_id, "faultlab_raft_read_rounds_total", labels) or 0.0


async def test_lease_reads_skip_the_quorum_round_while_the_lease_holds(
    shared: LocalCluster,
) -> None:
    leader = shared.wait_for_leader()
    before = _read_rounds(shared, leader, "lease"), _read_rounds(shared, leader, "quorum")
    channel, stub = direct_stub(shared, leader)
    async with channel:
        await stub.Put(kv_pb2.PutRequest(key="leased", value=b"v1"), timeout=5)
        for _ in range(20):
            got = await stub.Get(kv_pb2.GetRequest(key="leased", consistency=LEASE), timeout=5)
            assert got.kv.value == b"v1"  # a lease read sees what was acknowledged before
    after = _read_rounds(shared, leader, "lease"), _read_rounds(shared, leader, "quorum")
    # Heartbeats renew the lease every tick: nearly every read is served by it (one may
    # fall in the moment between a tick and its round's acknowledgement).
    assert after[0] - before[0] >= 15 and after[1] - before[1] <= 5


def test_the_sync_client_for_scripts(shared: LocalCluster) -> None:
    with SyncKvClient.for_topology(shared.topology) as kv:
        put = kv.put("sync/key", b"v1")
        assert kv.get("sync/key").kv.value == b"v1"
        assert kv.cas("sync/key", put.kv.version, b"v2").succeeded
        with pytest.raises(grpc.RpcError) as e:
            kv.put("", b"x")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_a_kv_node_with_bad_options_exits_2(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, (Group("kv", 1),), node_env={"FAULTLAB_FSYNC": "sometimes"})
    with pytest.raises(LauncherError, match=r"(?s)exited with code 2.*use always, batch or never"):
        cluster.start()
    assert_all_gone(cluster.spawned_pids)


async def test_killing_the_leader_loses_no_acknowledged_write(kv3: LocalCluster) -> None:
    acked: dict[str, bytes] = {}
    async with client(kv3, timeout_s=1.0, attempts=30) as kv:
        for i in range(30):
            await kv.put(f"ack/{i}", str(i).encode())
            acked[f"ack/{i}"] = str(i).encode()
        old_leader = kv3.wait_for_leader()
        kv3.kill(old_leader)
        killed_at = time.monotonic()
        await kv.put("ack/after-kill", b"1")
        print(f"first write {time.monotonic() - killed_at:.2f}s after kill -9 of {old_leader}")
        acked["ack/after-kill"] = b"1"
        for i in range(30, 60):
            await kv.put(f"ack/{i}", str(i).encode())
            acked[f"ack/{i}"] = str(i).encode()
        assert kv.leader != old_leader
        for key, value in acked.items():
            assert (await kv.get(key)).kv.value == value, f"acknowledged {key} lost"


async def test_concurrent_writes_of_one_client_survive_a_leader_kill_once_each(
    kv3: LocalCluster,
) -> None:
    """One client, 200 appends in flight at once across a kill -9 of the leader: retries
    arrive in any order, and each append lands exactly once, none refused as stale."""
    async with client(kv3, timeout_s=1.0, attempts=30) as kv:
        await kv.put("many", b"")
        old_leader = kv3.wait_for_leader()
        writers = [asyncio.create_task(kv.append("many", f"<{i}>".encode())) for i in range(200)]

        async def some_answered() -> bool:
            return sum(w.done() for w in writers) >= 20

        await wait_until_async(some_answered, 10, "the first appends answered", 0.001)
        await asyncio.to_thread(kv3.kill, old_leader)
        await asyncio.gather(*writers)
        value = (await kv.get("many")).kv.value
    for i in range(200):
        assert value.count(f"<{i}>".encode()) == 1, (
            f"<{i}> applied {value.count(f'<{i}>'.encode())} times"
        )


async def test_a_minority_cannot_write_while_the_majority_goes_on(kv3: LocalCluster) -> None:
    old_leader = kv3.wait_for_leader()
    majority = [n.id for n in kv3.topology.nodes if n.id != old_leader]
    assert kv3.toxiproxy is not None
    Network(kv3.toxiproxy, kv3.topology).isolate(old_leader)

    channel, stub = direct_stub(kv3, old_leader)
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.Put(kv_pb2.PutRequest(key="minority", value=b"lost"), timeout=1.0)
        # The server's answer, not the client's DEADLINE_EXCEEDED: it answers in time.
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)

    new_leader = kv3.wait_for_leader(majority)
    async with KvClient({n: kv3.topology.client_address(n) for n in majority}) as kv:
        await kv.put("majority", b"ok")
        Network(kv3.toxiproxy, kv3.topology).heal()
        assert not (await kv.get("minority")).found
        old = KvClient({old_leader: kv3.topology.client_address(old_leader)})
        async with old:

            async def caught_up() -> bool:
                resp = await old.get("majority", STALE, node=old_leader)
                return resp.found

            await wait_until_async(caught_up, 15, "the old leader to catch up")
    assert new_leader != old_leader


async def test_restarting_every_node_recovers_all_data(kv3: LocalCluster) -> None:
    async with client(kv3) as kv:
        for i in range(40):
            await kv.put(f"durable/{i}", str(i).encode())
    for node in kv3.topology.nodes:
        kv3.kill(node.id)
    for node in kv3.topology.nodes:
        kv3.start_node(node.id)
    kv3.wait_for_leader()
    async with client(kv3, attempts=30) as kv:
        listed = await kv.range("durable/")
    assert sorted(x.key for x in listed.kvs) == sorted(f"durable/{i}" for i in range(40))


async def test_a_torn_wal_tail_recovers_to_the_last_good_entry(kv3: LocalCluster) -> None:
    async with client(kv3) as kv:
        for i in range(10):
            await kv.put(f"torn/{i}", b"v")
    leader = kv3.wait_for_leader()
    victim = next(n.id for n in kv3.topology.nodes if n.id != leader)
    kv3.kill(victim)
    segment = sorted((kv3.run_dir / "data" / victim / "raft" / "kv" / "wal").glob("wal-*.log"))[-1]
    with open(segment, "ab") as f:
        f.write(b"\x40\x00\x00\x00\xde\xad")  # a record header promising 64 bytes, then a crash

    kv3.start_node(victim)

    log = kv3.log_path(victim).read_text()
    assert "wal_torn_tail_truncated" in log
    async with client(kv3) as kv:
        await kv.put("torn/after", b"v")
        kv_victim = KvClient({victim: kv3.topology.client_address(victim)})
        async with kv_victim:

            async def victim_has_all() -> bool:
                resp = await kv_victim.range("torn/", consistency=STALE)
                return len(resp.kvs) == 11

            await wait_until_async(victim_has_all, 15, f"{victim} to hold every key")


async def test_a_follower_behind_a_compaction_catches_up_by_snapshot(tmp_path: Path) -> None:
    for cluster in kv_cluster(tmp_path, FAULTLAB_SNAPSHOT_EVERY="20"):
        leader = cluster.wait_for_leader()
        laggard = next(n.id for n in cluster.topology.nodes if n.id != leader)
        assert cluster.toxiproxy is not None
        net = Network(cluster.toxiproxy, cluster.topology)
        net.isolate(laggard)
        async with client(cluster) as kv:
            for i in range(60):
                await kv.put(f"snap/{i}", str(i).encode())
        assert "raft_snapshot" in cluster.log_path(leader).read_text()
        net.heal()
        lag = KvClient({laggard: cluster.topology.client_address(laggard)})
        async with lag:

            async def caught_up(lag: KvClient = lag, laggard: str = laggard) -> bool:
                resp = await lag.get("snap/59", STALE, node=laggard)
                return resp.found

            await wait_until_async(caught_up, 20, f"{laggard} to catch up")
            assert len((await lag.range("snap/", consistency=STALE)).kvs) == 60
        assert "raft_snapshot_installed" in cluster.log_path(laggard).read_text()
        # The snapshot carried the store's history (format 2): a watch on the laggard from
        # the first write replays every put it never saw one by one.
        channel, stub = direct_stub(cluster, laggard)
        async with channel:
            watch = stub.Watch(kv_pb2.WatchRequest(prefix="snap/", start_revision=2), timeout=5)
            replayed = [(await watch.read()).kv.key for _ in range(60)]
            watch.cancel()
        assert replayed == [f"snap/{i}" for i in range(60)]
