"""The gateway on real processes: one address for the KV store, API keys and permissions,
per-tenant limits refused with retry-after, and forwarding that follows the leader."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chaos.net import Network
from chaos.pytest_plugin import make_cluster, running
from cluster.admin_client import fetch_status, group_view
from cluster.client import KvClient, LockClient, LogClient
from cluster.client.gateway import bearer, gateway_addresses
from cluster.launcher import LocalCluster
from cluster.waiting import wait_until, wait_until_async
from services.raft.role import Role
from services.runtime.topology import Group
from tests.integration.errorcheck import assert_reason, failure

pytestmark = pytest.mark.integration
Channels = Callable[..., grpc.aio.Channel]
OK, OVER_LIMIT = rls_pb2.RateLimitResponse.OK, rls_pb2.RateLimitResponse.OVER_LIMIT

TENANTS = """
[tenants.full]
keys = ["full-key"]
allow = ["faultlab.kv.v1.KV/*"]

[tenants.readonly]
keys = ["read-key"]
allow = ["faultlab.kv.v1.KV/Get"]

[tenants.envoy]
keys = ["envoy-key"]
allow = ["faultlab.kv.v1.KV/*"]
limit = { algorithm = "fixed_window", limit = 5, window_s = 3600.0 }

[tenants.tight]
keys = ["tight-key"]
allow = ["faultlab.kv.v1.KV/*"]
limit = { algorithm = "fixed_window", limit = 5, window_s = 60.0 }
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    tmp = tmp_path_factory.mktemp("gateway")
    config = tmp / "tenants.toml"
    config.write_text(TENANTS)
    env = {"FAULTLAB_GATEWAY_CONFIG": str(config)}
    groups = (Group("kv", 3), Group("gateway", 1))
    with running(make_cluster(tmp, groups, node_env=env)) as c:
        yield c


@pytest.fixture
async def channels(cluster: LocalCluster) -> AsyncIterator[Callable[..., grpc.aio.Channel]]:
    """Opens channels to the gateway with the given credentials; closes them afterwards."""
    opened: list[grpc.aio.Channel] = []

    def open_channel(api_key: str | None = None, priority: str | None = None) -> grpc.aio.Channel:
        address = gateway_addresses(cluster.topology)["gateway1"]
        interceptors = bearer(api_key, priority) if api_key else []
        opened.append(grpc.aio.insecure_channel(address, interceptors=interceptors))
        return opened[-1]

    yield open_channel
    for channel in opened:
        await channel.close()


async def test_puts_and_gets_go_through_one_gateway_address(cluster: LocalCluster) -> None:
    async with KvClient.for_gateway(cluster.topology, "full-key", attempts=1) as kv:
        await kv.put("through", b"the-gateway")
        assert (await kv.get("through")).kv.value == b"the-gateway"
    async with KvClient.for_topology(cluster.topology) as direct:
        assert (await direct.get("through")).kv.value == b"the-gateway", "stored in the KV store"


async def test_a_call_without_a_known_key_is_unauthenticated(channels: Channels) -> None:
    put = kv_pb2.PutRequest(key="k", value=b"v")
    for key in (None, "no-such-key"):
        e = await failure(kv_pb2_grpc.KVStub(channels(key)).Put(put, timeout=5))
        assert_reason(e, grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED_CALLER", True)


async def test_a_method_the_tenant_may_not_call_is_denied_and_not_applied(
    cluster: LocalCluster, channels: Channels
) -> None:
    stub = kv_pb2_grpc.KVStub(channels("read-key"))
    e = await failure(stub.Put(kv_pb2.PutRequest(key="denied", value=b"v"), timeout=5))
    details = assert_reason(e, grpc.StatusCode.PERMISSION_DENIED, "METHOD_NOT_ALLOWED", True)
    assert details["tenant"] == "readonly" and details["method"] == "faultlab.kv.v1.KV/Put"
    await stub.Get(kv_pb2.GetRequest(key="denied"), timeout=5)  # Get is allowed
    async with KvClient.for_topology(cluster.topology) as direct:
        assert not (await direct.get("denied")).found


async def test_a_tenant_over_its_limit_gets_resource_exhausted_with_retry_after(
    cluster: LocalCluster, channels: Channels
) -> None:
    stub = kv_pb2_grpc.KVStub(channels("tight-key"))
    for i in range(5):
        call = stub.Put(kv_pb2.PutRequest(key=f"tight/{i}", value=b"v"), timeout=5)
        await call
        fields = dict(await call.trailing_metadata())
        assert fields["ratelimit-limit"] == "5" and fields["ratelimit-remaining"] == str(4 - i)
    e = await failure(stub.Put(kv_pb2.PutRequest(key="tight/over", value=b"v"), timeout=5))
    details = assert_reason(e, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", True)
    assert details["tenant"] == "tight" and details["ratelimit_remaining"] == "0"
    retry_after_s = float(details["retry_after"])
    assert 0 < retry_after_s <= 60.0
    rich = rpc_status.from_call(e)
    assert rich is not None
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in rich.details), "a RetryInfo, as gRPC clients read it"
    assert abs(retry.retry_delay.ToNanoseconds() / 1e9 - retry_after_s) < 0.01
    async with KvClient.for_topology(cluster.topology) as direct:
        assert not (await direct.get("tight/over")).found, "a refused put is not applied"


async def test_an_unknown_priority_is_invalid(channels: Channels) -> None:
    stub = kv_pb2_grpc.KVStub(channels("full-key", "urgent"))
    e = await failure(stub.Get(kv_pb2.GetRequest(key="k"), timeout=5))
    assert_reason(e, grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)


def role(cluster: LocalCluster, node: str) -> Role | None:
    status = fetch_status(cluster.topology.listen_address(node), 1.0)
    view = group_view(status, "kv")
    return Role(view.role) if view else None


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3), Group("gateway", 1)))) as c:
        yield c


async def test_forwarding_follows_a_leader_change(own_cluster: LocalCluster) -> None:
    """The old leader is cut off from its peers; the gateway still reaches it, learns it
    no longer leads, and finds the new leader itself: the client makes one attempt."""
    assert own_cluster.toxiproxy is not None
    net = Network(own_cluster.toxiproxy, own_cluster.topology)
    async with KvClient.for_gateway(own_cluster.topology, "demo-key", attempts=1) as kv:
        await kv.put("before", b"1")
        old = own_cluster.leader()
        net.isolate(old)
        try:
            wait_until(
                lambda: own_cluster.leader() not in (None, old),
                timeout_s=15,
                what="a new leader among the connected majority",
            )
            # Until the old leader notices it lost its quorum, it still takes writes (and
            # cannot commit them): Raft, not the gateway. Once it steps down it redirects.
            wait_until(
                lambda: role(own_cluster, old) != Role.LEADER,
                timeout_s=15,
                what=f"{old} stepping down",
            )
            await kv.put("after", b"2")  # in its one attempt, within its deadline
        finally:
            net.heal()
    async with KvClient.for_topology(own_cluster.topology) as direct:
        assert (await direct.get("after")).kv.value == b"2"


async def test_should_rate_limit_answers_from_the_same_limiter_as_native_calls(
    cluster: LocalCluster, channels: Channels
) -> None:
    """Envoy's rate limit API and the gateway's own admission take from one limit."""
    kv = kv_pb2_grpc.KVStub(channels("envoy-key"))
    rls = rls_pb2_grpc.RateLimitServiceStub(channels())
    for i in range(2):
        await kv.Put(kv_pb2.PutRequest(key=f"envoy/{i}", value=b"v"), timeout=5)

    def ask(tenant: str = "envoy", domain: str = "faultlab") -> rls_pb2.RateLimitRequest:
        request = rls_pb2.RateLimitRequest(domain=domain, hits_addend=1)
        request.descriptors.add().entries.add(key="tenant", value=tenant)
        return request

    answers = [await rls.ShouldRateLimit(ask(), timeout=5) for _ in range(4)]
    assert [a.overall_code for a in answers] == [OK, OK, OK, OVER_LIMIT]
    assert [a.statuses[0].limit_remaining for a in answers] == [2, 1, 0, 0]
    limit = answers[0].statuses[0].current_limit
    assert limit.requests_per_unit == 5
    assert limit.unit == rls_pb2.RateLimitResponse.RateLimit.Unit.HOUR
    assert 0 < answers[0].statuses[0].duration_until_reset.seconds <= 3600
    e = await failure(kv.Put(kv_pb2.PutRequest(key="envoy/native", value=b"v"), timeout=5))
    assert_reason(e, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", True)

    unknown = await rls.ShouldRateLimit(ask(tenant="nobody"), timeout=5)
    assert unknown.overall_code == OK and not unknown.statuses[0].HasField("current_limit")
    e = await failure(rls.ShouldRateLimit(ask(domain=""), timeout=5))
    assert_reason(e, grpc.StatusCode.INVALID_ARGUMENT, "INVALID", True)


async def test_a_watch_streams_through_the_gateway(channels: Channels) -> None:
    kv = kv_pb2_grpc.KVStub(channels("full-key"))
    put = await kv.Put(kv_pb2.PutRequest(key="watched/a", value=b"1"), timeout=5)
    watch = kv.Watch(kv_pb2.WatchRequest(prefix="watched/", start_revision=put.revision))
    first = await watch.read()
    assert first.kv.key == "watched/a" and first.kv.value == b"1"
    await kv.Put(kv_pb2.PutRequest(key="watched/b", value=b"2"), timeout=5)
    second = await watch.read()
    assert second.kv.key == "watched/b" and second.revision > first.revision
    watch.cancel()


@pytest.fixture(scope="module")
def with_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    groups = (Group("kv", 1), Group("lock", 3), Group("gateway", 1))
    with running(make_cluster(tmp_path_factory.mktemp("gateway-locks"), groups)) as c:
        c.wait_for_leader(group="lock")
        yield c


async def test_a_lock_session_kept_alive_through_the_gateway(with_locks: LocalCluster) -> None:
    """KeepAlive is a client stream: the gateway forwards it to the lock leader as it is."""
    async with LockClient.for_gateway(with_locks.topology, "demo-key") as locks:
        created = time.monotonic()
        async with (
            locks.session(ttl_s=1.0, owner="via-gateway") as session,
            session.lock("gateway-lock") as token,
        ):
            assert token > 0

            async def renewed_past_two_ttls() -> bool:
                # Valid until past created + 2 TTLs: renewals came back through it.
                return time.monotonic() + session.valid_for_s() >= created + 2.0

            await wait_until_async(renewed_past_two_ttls, 5, "renewals through the gateway")
            holder = await locks.holder("gateway-lock")
            assert holder.held and holder.session_id == session.id
            assert not session.lost.is_set()


@pytest.fixture(scope="module")
def with_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    groups = (Group("log", 1), Group("gateway", 1))
    with running(make_cluster(tmp_path_factory.mktemp("gateway-log"), groups)) as c:
        c.wait_for_leader(group="log/meta")
        yield c


async def test_the_log_client_works_through_the_gateway(with_log: LocalCluster) -> None:
    """Every LogClient call through one gateway address: topics, an idempotent producer,
    fetch, a subscription and a consumer group's offsets, each partition its own group."""
    async with LogClient.for_gateway(with_log.topology, "demo-key") as log:
        assert log.via_gateway and set(log.addresses) == {"gateway1"}
        await log.create_topic("via-gw", partitions=2)
        await log.wait_until_ready("via-gw")
        producer = await log.init_producer("gw-producer")
        sent = await producer.send("via-gw", 1, [b"a", b"b"])
        assert (sent.partition, sent.base_offset, sent.duplicate) == (1, 0, False)
        fetched = await log.fetch("via-gw", 1, 0)
        assert [r.value for r in fetched.records] == [b"a", b"b"]
        stream = log.subscribe("via-gw", 1, 1)
        assert (await anext(stream)).value == b"b"
        await stream.aclose()
        joined = await log.join_group("gw-group", ["via-gw"], client_id="c")
        await log.commit_offsets(
            "gw-group", joined.member_id, joined.generation, {("via-gw", 1): 2}
        )
        assert await log.fetch_offsets("gw-group") == {("via-gw", 1): 2}
        assert [t.name for t in await log.list_topics()] == ["via-gw"]
