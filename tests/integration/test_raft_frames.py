"""Raft's framed TCP transport fuzzed on real nodes (issue 27): random bytes, truncated and
oversized frames, garbled messages, a sender outside the topology and one that greets as
one peer and sends as another, each on a connection of its own straight to a follower's
raft port. Each closes that connection (counted by reason in the node's metrics), and
the node goes on serving: every node up, the leader and its term unchanged, what was
stored still there, new writes committed."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.pytest_plugin import make_cluster, running
from cluster import admin_client, metrics
from cluster.client import KvClient
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.raft.codec import encode_message
from services.raft.messages import Message, MessageType
from services.raft.transport import frames
from services.runtime.topology import Group
from tests.unit.raft.test_codec import messages as raft_messages

pytestmark = pytest.mark.integration

REFUSED = "faultlab_raft_connections_refused_total"
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLOSE_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running(
        make_cluster(tmp_path_factory.mktemp("frames"), (Group("kv", 3),), peer_transport="tcp")
    ) as c:
        yield c


@pytest.fixture(scope="module")
def before(cluster: LocalCluster) -> tuple[str, int]:
    """The leader and its term before any fuzzing, once a sentinel is stored."""
    _put(cluster, "sentinel", b"kept")
    leader = cluster.wait_for_leader()
    return leader, _term(cluster, leader)


def _term(c: LocalCluster, node_id: str) -> int:
    status = admin_client.fetch_status(c.topology.listen_address(node_id), 5.0)
    return next(g.term for g in status.groups if g.group == "kv")


def _put(c: LocalCluster, key: str, value: bytes) -> None:
    async def put() -> None:
        async with KvClient.for_topology(c.topology, timeout_s=10.0) as kv:
            await kv.put(key, value)

    asyncio.run(put())


def _get(c: LocalCluster, key: str) -> bytes:
    async def get() -> bytes:
        async with KvClient.for_topology(c.topology, timeout_s=10.0) as kv:
            return (await kv.get(key)).kv.value

    return asyncio.run(get())


def _follower(c: LocalCluster, leader: str) -> str:
    return next(n.id for n in c.topology.nodes if n.id != leader)


def _refused(c: LocalCluster, node_id: str, reason: str) -> float:
    return metrics.sample(c.topology, node_id, REFUSED, {"reason": reason}) or 0.0


def _send(c: LocalCluster, node_id: str, data: bytes, then_close: bool = False) -> bool:
    """Send `data` straight to the node's raft port; True when the node closed the
    connection (it refused), False when it kept it open until we closed it."""
    port = c.topology.node(node_id).raft_port
    with socket.create_connection((c.topology.host, port), timeout=CLOSE_TIMEOUT_S) as s:
        s.sendall(data)
        if then_close:
            return False
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True


def _open_for_a_moment(c: LocalCluster, node_id: str, data: bytes) -> bool:
    """True when the node kept the connection open after `data` (it took it as frames)."""
    port = c.topology.node(node_id).raft_port
    with socket.create_connection((c.topology.host, port), timeout=CLOSE_TIMEOUT_S) as s:
        s.sendall(data)
        s.settimeout(0.2)
        try:
            return s.recv(1) != b""
        except TimeoutError:
            return True  # nothing came back and nothing closed: still open
        except ConnectionResetError:
            return False


def _message(src: str, dst: str, term: int = 0) -> Message:
    return Message(MessageType.HEARTBEAT_RESP, src, dst, term)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("no hello", "frame"),
        ("unknown sender", "sender"),
        ("a client's name", "sender"),
        ("another peer's message", "sender"),
        ("oversized", "frame"),
        ("unknown kind", "frame"),
        ("not a Raft message", "message"),
        ("second hello", "frame"),
    ],
)
def test_each_bad_connection_is_closed_and_counted(
    cluster: LocalCluster, before: tuple[str, int], name: str, reason: str
) -> None:
    leader, _ = before
    node = _follower(cluster, leader)
    other = next(n.id for n in cluster.topology.nodes if n.id not in (leader, node))
    hello = frames.hello(leader)
    data = {
        "no hello": frames.message("kv", encode_message(_message(leader, node))),
        "unknown sender": frames.hello("kv9") + frames.message("kv", b""),
        "a client's name": frames.hello("client"),
        "another peer's message": hello
        + frames.message("kv", encode_message(_message(other, node))),
        "oversized": hello + struct.pack(">I", frames.MAX_FRAME_BYTES + 1),
        "unknown kind": hello + struct.pack(">I", 1) + b"\x09",
        "not a Raft message": hello + frames.message("kv", b"\x93junk"),
        "second hello": hello + frames.hello(leader),
    }[name]
    counted = _refused(cluster, node, reason)
    assert _send(cluster, node, data), f"{name}: the node kept the connection open"
    wait_until(
        lambda: _refused(cluster, node, reason) > counted, 5.0, f"{name} counted as {reason}"
    )


def test_a_truncated_frame_is_counted_when_the_stream_ends(
    cluster: LocalCluster, before: tuple[str, int]
) -> None:
    leader, _ = before
    node = _follower(cluster, leader)
    frame = frames.message("kv", encode_message(_message(leader, node)))
    counted = _refused(cluster, node, "truncated")
    _send(cluster, node, frames.hello(leader) + frame[:-3], then_close=True)
    wait_until(
        lambda: _refused(cluster, node, "truncated") > counted, 5.0, "the truncation counted"
    )


def test_frames_for_a_group_the_node_lacks_are_dropped_not_refused(
    cluster: LocalCluster, before: tuple[str, int]
) -> None:
    leader, _ = before
    node = _follower(cluster, leader)
    data = frames.hello(leader) + frames.message("nope", encode_message(_message(leader, node)))
    assert _open_for_a_moment(cluster, node, data), "a message for another group is like a lost one"


@FUZZ
@given(data=st.binary(min_size=1, max_size=512), greeted=st.booleans())
def test_random_bytes_never_take_a_node_down(
    cluster: LocalCluster, before: tuple[str, int], data: bytes, greeted: bool
) -> None:
    leader, _ = before
    prefix = frames.hello(leader) if greeted else b""
    _send(cluster, _follower(cluster, leader), prefix + data, then_close=True)


@FUZZ
@given(message=raft_messages, keep=st.floats(0.0, 0.99), group=st.sampled_from(["kv", "?"]))
def test_truncated_frames_never_take_a_node_down(
    cluster: LocalCluster, before: tuple[str, int], message: Message, keep: float, group: str
) -> None:
    leader, _ = before
    frame = frames.message(group, encode_message(message))
    _send(
        cluster,
        _follower(cluster, leader),
        frames.hello(leader) + frame[: int(len(frame) * keep)],
        then_close=True,
    )


def test_the_cluster_is_intact_after_the_fuzzing(
    cluster: LocalCluster, before: tuple[str, int]
) -> None:
    leader, term = before
    for node in cluster.topology.nodes:
        assert cluster.is_running(node.id), f"{node.id} died: {cluster.returncode(node.id)}"
    assert cluster.wait_for_leader() == leader, "garbage on the raft port deposed nobody"
    assert _term(cluster, leader) == term
    assert _get(cluster, "sentinel") == b"kept"
    _put(cluster, "after-fuzzing", b"ok")
    assert _get(cluster, "after-fuzzing") == b"ok"
