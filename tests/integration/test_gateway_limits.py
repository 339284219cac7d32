"""Limits shared by two gateway replicas, on real processes: together they admit the
limit, not twice it; and when the gateways lose the KV store that backs the limit, each
declared policy decides as stated, and no decision waits past the bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from chaos.checkers.limiter import LimitUnderTest, check
from chaos.net import Network
from chaos.pytest_plugin import make_cluster, running
from cluster.client import errors
from cluster.client.gateway import bearer, gateway_addresses
from cluster.launcher import LocalCluster
from services.gateway.journal import read_journals
from services.runtime.topology import Group

pytestmark = pytest.mark.integration

LIMIT = 10
STORE_TIMEOUT_MS = 150
POLICIES = ("fail_open", "fail_closed", "local_share", "local_full")
TENANTS = f"""
[sharing]
lease_batch = 2
store_timeout_ms = {STORE_TIMEOUT_MS}
store_retry_ms = 600000   # once the store is lost, the test's calls all decide without it

""" + "\n".join(
    f"""
[tenants.{policy}]
keys = ["{policy}-key"]
allow = ["faultlab.lock.v1.Lock/ListSessions"]
[tenants.{policy}.limit]
algorithm = "fixed_window"
limit = {LIMIT}
window_s = 3600.0
shared = true
on_store_failure = "{policy}"
"""
    for policy in POLICIES
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    (tmp_path / "tenants.toml").write_text(TENANTS)
    env = {
        "FAULTLAB_GATEWAY_CONFIG": str(tmp_path / "tenants.toml"),
        "FAULTLAB_GATEWAY_DECISIONS": str(tmp_path / "decisions"),
    }
    groups = (Group("kv", 3), Group("lock", 1), Group("gateway", 2))
    with running(make_cluster(tmp_path, groups, node_env=env)) as c:
        c.wait_for_leader(group="lock")
        yield c


def limit_of(policy: str) -> LimitUnderTest:
    return LimitUnderTest(
        policy,
        "fixed_window",
        limit=LIMIT,
        window_s=3600.0,
        replicas=2,
        shared=True,
        lease_batch=2,
        on_store_failure=policy,
        store_timeout_ms=STORE_TIMEOUT_MS,
    )


async def call(address: str, api_key: str) -> tuple[bool, float]:
    """One call through a gateway: (admitted, seconds to its answer)."""
    async with grpc.aio.insecure_channel(address, interceptors=bearer(api_key)) as channel:
        started = time.monotonic()
        try:
            await lock_pb2_grpc.LockStub(channel).ListSessions(
                lock_pb2.ListSessionsRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as e:
            assert errors.reason_of(e) == errors.Reason.Value("RATE_LIMITED"), e
            return False, time.monotonic() - started
        return True, time.monotonic() - started


async def test_two_replicas_together_admit_no_more_than_the_shared_limit(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    gateways = list(gateway_addresses(cluster.topology).values())
    outcomes = [await call(gateways[i % 2], "local_share-key") for i in range(3 * LIMIT)]
    admitted = sum(ok for ok, _ in outcomes)
    verdict = check(read_journals(tmp_path / "decisions"), limit_of("local_share"))
    assert verdict.valid, verdict
    assert verdict.admitted == admitted and verdict.degraded == 0
    assert verdict.worst_ratio <= 1.0  # not 2x: the replicas share one limit
    # At most one lease of 2 stranded on the other replica (or a new hourly window).
    assert admitted >= LIMIT - 2


async def test_without_the_kv_store_each_policy_decides_as_declared_and_in_time(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    assert cluster.toxiproxy is not None
    net = Network(cluster.toxiproxy, cluster.topology)
    net.partition_one_way(["gateway1", "gateway2"], ["kv1", "kv2", "kv3"])  # a dead store hangs
    gateways = list(gateway_addresses(cluster.topology).values())
    expected_per_replica = {
        "fail_open": 15,
        "fail_closed": 0,
        "local_share": LIMIT // 2,
        "local_full": LIMIT,
    }
    for policy, expected in expected_per_replica.items():
        for gateway in gateways:
            outcomes = await asyncio.gather(*(call(gateway, f"{policy}-key") for _ in range(15)))
            assert sum(ok for ok, _ in outcomes) == expected, (policy, gateway)
            # The first calls wait for the store up to its bound; none waits longer.
            assert max(took for _, took in outcomes) < STORE_TIMEOUT_MS / 1000 + 1.0
    records = read_journals(tmp_path / "decisions")
    for policy in POLICIES:
        verdict = check(records, limit_of(policy))
        assert verdict.degraded == 30, policy
        assert not verdict.slow_decisions, (policy, verdict.max_decision_ms)
        assert verdict.valid or policy == "fail_open", (policy, verdict)
