"""aetcd, a Python etcd client from PyPI, against a follower's endpoint: get, put, a prefix,
a watch from a past revision, a lease kept alive and revoked. It runs as a user's program
does, in a process of its own (tests/clients/aetcd_session.py). And a grpc-core client
that pings every second keeps an idle watch open."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from chaos.pytest_plugin import make_cluster, running
from cluster.launcher import LocalCluster
from services.runtime.topology import Group

pytestmark = pytest.mark.integration
IDLE_S = 6.0  # grpcio's default server refuses the third ping within five minutes
SESSION = Path(__file__).resolve().parents[1] / "clients" / "aetcd_session.py"


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[LocalCluster]:
    with running(make_cluster(tmp_path, (Group("kv", 3),))) as c:
        yield c


def test_aetcd_puts_gets_watches_and_leases(kv: LocalCluster) -> None:
    follower = next(n for n in kv.topology.nodes if n.id != kv.wait_for_leader())
    done = subprocess.run(
        [sys.executable, str(SESSION), kv.topology.client_address(follower.id)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "get": "1",
        "range": [["py/a", "1"], ["py/b", "2"]],
        "watch": [["PUT", "py/a", "1"], ["PUT", "py/b", "2"], ["PUT", "py/a", "3"]],
        "keepalive_ttl": 30,
        "lease_keys": ["py/leased"],
        "after_revoke": True,
    }


async def test_an_idle_watch_outlives_a_clients_keepalive_pings(kv: LocalCluster) -> None:
    """etcd clients ping while nothing moves (etcdctl every 2 s). grpcio's default server
    policy answers a grpc-core client's pings that often with GOAWAY too_many_pings and
    its idle watch dies UNAVAILABLE; the nodes accept them (grpc_options.py)."""
    pinging = [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_permit_without_calls", 1)]
    address = kv.topology.client_address(kv.topology.nodes[1].id)
    async with grpc.aio.insecure_channel(address, options=pinging) as channel:
        kv_stub, watch_stub = rpc_pb2_grpc.KVStub(channel), rpc_pb2_grpc.WatchStub(channel)
        requests: asyncio.Queue[rpc_pb2.WatchRequest] = asyncio.Queue()

        async def sending() -> AsyncIterator[rpc_pb2.WatchRequest]:
            while True:
                yield await requests.get()

        watch = watch_stub.Watch(sending())
        create = rpc_pb2.WatchCreateRequest(key=b"idle")
        await requests.put(rpc_pb2.WatchRequest(create_request=create))
        assert (await watch.read()).created
        await asyncio.sleep(IDLE_S)  # the idle time is what is tested: pings, no data
        await kv_stub.Put(rpc_pb2.PutRequest(key=b"idle", value=b"v"), timeout=10)
        event = await asyncio.wait_for(watch.read(), 10)
        assert [e.kv.value for e in event.events] == [b"v"]
        watch.cancel()
