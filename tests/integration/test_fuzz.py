"""Every RPC of every service fuzzed on real nodes (issue 30): hypothesis builds requests
from each method's descriptor with the values that break servers (tests/integration/
fuzzing.py), and sends raw random bytes where the request should be; the Raft peer
stream gets random and truncated frames. Each case: the node answers OK or with a
status that carries a reason (never UNKNOWN or INTERNAL from an unhandled exception),
every node stays up, and linearizable reads afterwards find what was stored before.

The same through the gateway: its forwarding of KV, lock and log calls, its operator
API and Envoy's rate limit API."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from envoy.service.ratelimit.v3 import rls_pb2
from faultlab.admin.v1 import admin_pb2
from faultlab.gateway.v1 import gateway_pb2
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from faultlab.lock.v1 import lock_pb2
from faultlab.log.v1 import log_pb2, log_pb2_grpc
from faultlab.raft.v1 import raft_pb2
from google.protobuf import descriptor as d
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.pytest_plugin import make_cluster, running
from cluster import admin_client
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until
from services.raft.codec import encode_message
from services.runtime.topology import Group
from tests.integration.fuzzing import Outcome, call, messages
from tests.unit.raft.test_codec import messages as raft_messages

pytestmark = pytest.mark.integration

TYPED_EXAMPLES = 25
RAW_EXAMPLES = 10
TIMEOUT_S = 1.0
SENTINEL_KEY = "\x01fuzz-sentinel"
SENTINEL_TOPIC = "fuzz-sentinel"
SENTINEL_RECORDS = [b"one", b"two", b"three"]
# Methods that may rightly keep a call open until the caller's deadline: a watch or a
# subscription with nothing new, a session's stream, a queued lock, a long poll.
WAITING = {"Watch", "Subscribe", "KeepAlive", "Send", "Acquire", "Fetch", "JoinGroup"}
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}
GATEWAY_KEY = (("authorization", "Bearer demo-key"),)

SERVICES: dict[str, tuple[d.ServiceDescriptor, str]] = {  # name -> (service, node)
    "kv": (kv_pb2.DESCRIPTOR.services_by_name["KV"], "kv1"),
    "lock": (lock_pb2.DESCRIPTOR.services_by_name["Lock"], "lock1"),
    "log": (log_pb2.DESCRIPTOR.services_by_name["Log"], "log1"),
    "admin": (admin_pb2.DESCRIPTOR.services_by_name["Admin"], "kv1"),
    "gateway": (gateway_pb2.DESCRIPTOR.services_by_name["Gateway"], "gateway1"),
    "envoy-rls": (rls_pb2.DESCRIPTOR.services_by_name["RateLimitService"], "gateway1"),
    "raft": (raft_pb2.DESCRIPTOR.services_by_name["Raft"], "kv1"),
}
# Calls the gateway forwards: the same services, reached through it with an API key.
FORWARDED = ("kv", "lock", "log")
CASES = [(name, m.name, False) for name, (s, _) in SERVICES.items() for m in s.methods]
CASES += [(name, m.name, True) for name in FORWARDED for m in SERVICES[name][0].methods]

SLOW_IS_FINE = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.function_scoped_fixture,
]
FUZZ_SETTINGS = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=SLOW_IS_FINE
)
Metadata = tuple[tuple[str, str], ...]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    groups = (Group("kv", 1), Group("lock", 1), Group("log", 1), Group("gateway", 1))
    # the Raft peer service is fuzzed below: served when gRPC carries Raft (the framed
    # transport's fuzzing is test_raft_frames.py)
    folder = tmp_path_factory.mktemp("fuzz")
    with running(make_cluster(folder, groups, peer_transport="grpc")) as c:
        c.wait_for_leader(group="lock")
        c.wait_for_leader(group="log/meta")
        _store_sentinels(c)
        yield c


def _channel(c: LocalCluster, node: str) -> grpc.Channel:
    return grpc.insecure_channel(c.topology.listen_address(node))


def _store_sentinels(c: LocalCluster) -> None:
    with _channel(c, "kv1") as ch:
        kv_pb2_grpc.KVStub(ch).Put(kv_pb2.PutRequest(key=SENTINEL_KEY, value=b"kept"), timeout=5)
    with _channel(c, "log1") as ch:
        log = log_pb2_grpc.LogStub(ch)
        log.CreateTopic(log_pb2.CreateTopicRequest(name=SENTINEL_TOPIC, partitions=1), timeout=10)
        describe = log_pb2.DescribeTopicRequest(name=SENTINEL_TOPIC)
        wait_until(
            lambda: log.DescribeTopic(describe, timeout=5).partitions[0].leader,
            15,
            "the sentinel partition's leader",
        )
        for value in SENTINEL_RECORDS:
            log.Produce(
                log_pb2.ProduceRequest(
                    topic=SENTINEL_TOPIC, partition=0, records=[log_pb2.Record(value=value)]
                ),
                timeout=10,
            )


def _assert_intact(c: LocalCluster) -> None:
    """Every node up and serving; what was stored before the fuzzing is still there."""
    for node in c.topology.nodes:
        assert c.is_running(node.id), f"{node.id} died: {c.returncode(node.id)}"
        admin_client.fetch_status(c.topology.listen_address(node.id), timeout_s=5.0)
    with _channel(c, "kv1") as ch:
        got = kv_pb2_grpc.KVStub(ch).Get(kv_pb2.GetRequest(key=SENTINEL_KEY), timeout=5)
        assert got.found and got.kv.value == b"kept"
    with _channel(c, "log1") as ch:
        fetched = log_pb2_grpc.LogStub(ch).Fetch(
            log_pb2.FetchRequest(topic=SENTINEL_TOPIC, partition=0, offset=0), timeout=5
        )
        assert [r.value for r in fetched.records] == SENTINEL_RECORDS


def _acceptable(method: d.MethodDescriptor, outcome: Outcome) -> bool:
    if outcome.code == grpc.StatusCode.OK:
        return True
    if outcome.code in NEVER:
        return False
    if outcome.reason:  # a refusal the service explained (services/runtime/status.py)
        return True
    if outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return method.name in WAITING
    return False


def _target(service: str, via_gateway: bool) -> tuple[str, Metadata]:
    if via_gateway:
        return "gateway1", GATEWAY_KEY
    return SERVICES[service][1], ()


IDS = [f"{s}{'-via-gateway' if g else ''}.{n}" for s, n, g in CASES]


@pytest.mark.parametrize(("service", "name", "via_gateway"), CASES, ids=IDS)
def test_typed_and_raw_requests_get_an_explained_answer(
    cluster: LocalCluster, service: str, name: str, via_gateway: bool
) -> None:
    method = SERVICES[service][0].methods_by_name[name]
    node, metadata = _target(service, via_gateway)
    bad: list[str] = []
    with _channel(cluster, node) as ch:

        def check(request: object) -> None:
            outcome = call(ch, method, request, TIMEOUT_S, metadata)  # type: ignore[arg-type]
            if not _acceptable(method, outcome):
                bad.append(
                    f"{outcome.code.name} reason={outcome.reason!r}: "
                    f"{outcome.details[:200]} <- {str(request)[:300]!r}"
                )

        typed = settings(FUZZ_SETTINGS, max_examples=TYPED_EXAMPLES)(
            given(messages(method.input_type))(check)
        )
        raw = settings(FUZZ_SETTINGS, max_examples=RAW_EXAMPLES)(
            given(st.binary(min_size=1, max_size=512))(check)
        )
        typed()
        raw()
    assert not bad, f"{len(bad)} answers without an explanation:\n" + "\n".join(bad[:10])
    _assert_intact(cluster)


@settings(FUZZ_SETTINGS, max_examples=40)
@given(message=raft_messages, cut=st.floats(0.0, 0.99), group=st.sampled_from(["kv", "?", ""]))
def test_the_peer_stream_refuses_truncated_frames_and_the_node_keeps_serving(
    cluster: LocalCluster, message: object, cut: float, group: str
) -> None:
    """A frame cut short, for a group the node hosts or not: refused as bad input."""
    frame = encode_message(message)  # type: ignore[arg-type]
    truncated = frame[: int(len(frame) * cut)]
    batch = raft_pb2.MessageBatch(messages=[raft_pb2.Envelope(group=group, payload=truncated)])
    send = raft_pb2.DESCRIPTOR.services_by_name["Raft"].methods_by_name["Send"]
    with _channel(cluster, "kv1") as ch:
        outcome = call(ch, send, batch, TIMEOUT_S)
    if group == "kv":
        assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT and outcome.reason, outcome
    else:  # a group this node does not host: dropped, as a lost message would be
        assert outcome.code == grpc.StatusCode.OK, outcome


def test_the_cluster_is_intact_after_the_peer_stream_fuzzing(cluster: LocalCluster) -> None:
    _assert_intact(cluster)


def test_a_watch_from_a_negative_revision_is_refused_at_once(cluster: LocalCluster) -> None:
    """Found by an earlier look: it waited for events instead of answering."""
    with _channel(cluster, "kv1") as ch:
        stream = kv_pb2_grpc.KVStub(ch).Watch(
            kv_pb2.WatchRequest(prefix="", start_revision=-1), timeout=5
        )
        with pytest.raises(grpc.RpcError) as e:
            next(iter(stream))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_the_fuzz_covers_every_method_of_every_service() -> None:
    covered = {(s, n) for s, n, _ in CASES}
    for name, (service, _) in SERVICES.items():
        assert {(name, m.name) for m in service.methods} <= covered
