"""Mutual TLS on every connection (`faultlab up --tls`, `LocalCluster(tls=True)`): the
SDK works through it; a plaintext client and a client of another CA are refused in the
handshake; a forged Raft message, which moves a plaintext cluster's term, changes nothing
when sent with another CA's certificate or with the cluster's own client certificate."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from faultlab.raft.v1 import raft_pb2, raft_pb2_grpc

from chaos.backends import local_processes
from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import run_mode
from chaos.pytest_plugin import make_cluster, running
from cluster import admin_client
from cluster.client import KvClient
from cluster.launcher import LocalCluster
from cluster.tls import make_cluster_tls
from cluster.waiting import wait_until
from services.raft.codec import encode_message
from services.raft.messages import Message, MessageType
from services.raft.transport import frames
from services.runtime import tls
from services.runtime.topology import Group

pytestmark = pytest.mark.integration


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),), tls=True)) as c:
        yield c
    assert tls.TLS_DIR_ENV not in os.environ, "the cluster left its TLS folder set"


def _terms(c: LocalCluster) -> dict[str, int]:
    out = {}
    for node in c.topology.nodes:
        status = admin_client.fetch_status(c.topology.listen_address(node.id), 5.0)
        out[node.id] = next(g.term for g in status.groups if g.group == "kv")
    return out


def _settled_terms(c: LocalCluster) -> dict[str, int]:
    """The terms once every node is in the same one: just after an election a follower
    may not have heard the new leader yet, and would move to its term during the test,
    as the stress run caught (kv2 at term 1 before, 2 after, no forged message taken)."""

    def settled() -> dict[str, int] | None:
        terms = _terms(c)
        return terms if len(set(terms.values())) == 1 else None

    return wait_until(settled, 10, "every node to be in the leader's term")


def _forged_timeout_now(c: LocalCluster) -> Message:
    """TIMEOUT_NOW, as the leader would send it to hand its place to a follower: the
    follower starts an election at once (a new term) if it believes the message."""
    leader = c.wait_for_leader()
    follower = next(n.id for n in c.topology.nodes if n.id != leader)
    return Message(MessageType.TIMEOUT_NOW, leader, follower, _terms(c)[follower])


def _forged_over_frames(c: LocalCluster, context: ssl.SSLContext | None) -> str:
    """The forged message sent straight to the follower's raft port: "handshake refused",
    "closed" (after the hello: the node refused the sender) or "open" (still open after
    5 s: it took the frames)."""
    message = _forged_timeout_now(c)
    address = (c.topology.host, c.topology.node(message.dst).raft_port)
    try:
        with contextlib.ExitStack() as stack:
            s = stack.enter_context(socket.create_connection(address, timeout=5))
            if context is not None:
                s = stack.enter_context(context.wrap_socket(s, server_hostname=tls.SERVER_NAME))
            s.sendall(frames.hello(message.src) + frames.message("kv", encode_message(message)))
            return "closed" if s.recv(1) == b"" else "open"
    except ssl.SSLError:
        return "handshake refused"
    except ConnectionResetError:
        return "closed"
    except TimeoutError:
        return "open"


def _forged_election(c: LocalCluster, dial: Callable[[str], grpc.Channel]) -> grpc.StatusCode:
    """The forged message sent to the follower's Raft gRPC service."""
    message = _forged_timeout_now(c)
    follower = message.dst
    batch = raft_pb2.MessageBatch(
        messages=[raft_pb2.Envelope(group="kv", payload=encode_message(message))]
    )
    with dial(c.topology.listen_address(follower)) as channel:
        try:
            raft_pb2_grpc.RaftStub(channel).Send(iter([batch]), timeout=5)
        except grpc.RpcError as e:
            return e.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


async def test_the_sdk_works_through_mutual_tls(secure: LocalCluster) -> None:
    async with KvClient.for_topology(secure.topology, timeout_s=5.0) as kv:
        await kv.put("greeting", b"hello")
        assert (await kv.get("greeting")).kv.value == b"hello"


def test_a_plaintext_client_is_refused(secure: LocalCluster) -> None:
    address = secure.topology.client_address("kv1")
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as e:
        kv_pb2_grpc.KVStub(channel).Get(kv_pb2.GetRequest(key="k"), timeout=3)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_a_peer_of_another_ca_is_refused_and_disrupts_nothing(
    secure: LocalCluster, tmp_path: Path
) -> None:
    """A certificate of another CA naming itself kv2, trusting this cluster's CA (so only
    the node's check of the caller stands between it and the Raft stream)."""
    assert secure.tls_dir is not None
    other = make_cluster_tls(tmp_path / "other-ca", ["kv2"], ca_name="someone else's CA")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(secure.tls_dir / tls.CA_FILE).read_bytes(),
        private_key=(other / "kv2.key").read_bytes(),
        certificate_chain=(other / "kv2.pem").read_bytes(),
    )
    before = _settled_terms(secure)
    options = [("grpc.ssl_target_name_override", tls.SERVER_NAME)]

    def dial(address: str) -> grpc.Channel:
        return grpc.secure_channel(address, credentials, options=options)

    if secure.peer_transport == "grpc":
        assert _forged_election(secure, dial) == grpc.StatusCode.UNAVAILABLE
    else:
        context = ssl.create_default_context(cafile=secure.tls_dir / tls.CA_FILE)
        context.load_cert_chain(other / "kv2.pem", other / "kv2.key")
        assert _forged_over_frames(secure, context) in ("handshake refused", "closed")
    assert _terms(secure) == before


def test_a_client_certificate_cannot_send_raft_messages(secure: LocalCluster) -> None:
    before = _settled_terms(secure)
    if secure.peer_transport == "grpc":
        assert _forged_election(secure, tls.sync_channel) == grpc.StatusCode.PERMISSION_DENIED
    else:
        assert _forged_over_frames(secure, tls.ssl_client_context()) == "closed"
    assert _terms(secure) == before


def test_without_tls_the_same_forged_message_moves_the_term(tmp_path: Path) -> None:
    """The control: the attack the tests above refuse is real on a plaintext cluster."""
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as c:
        # Settled first: a follower still in the previous term would be forged a message
        # of that term, and its election would reach only the leader's term (CI, grpc).
        before = max(_settled_terms(c).values())
        if c.peer_transport == "grpc":
            assert _forged_election(c, grpc.insecure_channel) == grpc.StatusCode.OK
        else:
            assert _forged_over_frames(c, None) == "open"
        wait_until(lambda: max(_terms(c).values()) > before, 10, "the forged election")


def test_an_experiment_behaves_under_tls(tmp_path: Path) -> None:
    exp = EXPERIMENTS["stale-read"]
    result = run_mode(
        exp, exp.unsafe, 6.0, seed=7, folder=tmp_path, backend=local_processes(tls=True)
    )
    assert result.behaved, result.finding.summary
    assert result.availability.ok > 50
