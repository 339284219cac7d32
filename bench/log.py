"""The log broker beside NATS JetStream, in the same run on the same machine: 100-byte
records acknowledged by a 3-replica log, with 1 and 256 outstanding.

    python bench/log.py [--seconds 5]

- NATS JetStream R3 (nats-server from Debian's packages, nats-py): a stream of 3
  replicas; `js.publish` of 100-byte messages, each acknowledged once the stream's Raft
  group has it. JetStream does not fsync each write (it syncs every 2 minutes by default).
- faultlab, a topic of 1 partition on 3 log nodes (fsync=batch: every acknowledged
  record is on disk on a quorum): Produce acks=ALL, one record per request, then batches
  of BATCH records per request (as Kafka's producer batches), then 256 outstanding
  one-record sends through the SDK's BatchingProducer (which gathers them into requests);
  and, as the ceiling of the same client and gRPC stack, a Ping that does nothing, 256
  outstanding, to the leader.

Writes bench/results/log.json. Needs `nats-server` on PATH (`apt-get install nats-server`)
and nats-py (`pip install .[bench]`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from cluster.client import BatchingProducer, LogClient
from cluster.launcher import LocalCluster
from cluster.ports import free_ports
from cluster.waiting import wait_until_async
from services.runtime.grpc_options import CHANNEL_OPTIONS
from services.runtime.topology import Group, Topology

RESULTS = Path(__file__).parent / "results" / "log.json"
RECORD = b"x" * 100
BATCH = 100  # records per Produce in the batched run


async def drive(
    send: Callable[[], Awaitable[int]], outstanding: int, seconds: float
) -> dict[str, float]:
    """`outstanding` concurrent senders of `send()` (which returns records acknowledged)."""
    latencies: list[float] = []
    records = 0
    deadline = time.monotonic() + seconds

    async def sender() -> None:
        nonlocal records
        while time.monotonic() < deadline:
            started = time.perf_counter()
            acknowledged = await send()  # not `records += await ...`: that reads first
            records += acknowledged
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(outstanding)))
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "outstanding": outstanding,
        "records_per_s": round(records / elapsed),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
    }


# -- NATS JetStream ---------------------------------------------------------------------------


@contextlib.contextmanager
def nats_cluster(folder: Path) -> Iterator[list[str]]:
    """Three nats-server processes with JetStream, clustered; yields client URLs."""
    server = shutil.which("nats-server")
    if server is None:
        raise SystemExit("nats-server not found: apt-get install nats-server")
    ports = free_ports(6)
    client_ports, route_ports = ports[:3], ports[3:]
    procs = []
    try:
        for i in range(3):
            routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(route_ports) if j != i)
            procs.append(
                subprocess.Popen(
                    [
                        server,
                        "-a",
                        "127.0.0.1",
                        "-p",
                        str(client_ports[i]),
                        "-js",
                        "-sd",
                        str(folder / f"n{i}"),
                        "-n",
                        f"n{i}",
                        "--cluster_name",
                        "bench",
                        "--cluster",
                        f"nats://127.0.0.1:{route_ports[i]}",
                        "--routes",
                        routes,
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=(folder / f"n{i}.log").open("w"),
                )
            )
        yield [f"nats://127.0.0.1:{p}" for p in client_ports]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)


async def jetstream(urls: list[str], seconds: float) -> list[dict[str, float]]:
    import nats  # the bench extra: not needed by faultlab itself
    import nats.errors
    from nats.js.api import StreamConfig

    nc = await nats.connect(servers=urls)
    try:
        js = nc.jetstream()

        async def stream_created() -> bool:
            """True once the JetStream meta group has a leader to create the stream."""
            try:
                await js.add_stream(StreamConfig(name="BENCH", subjects=["bench"], num_replicas=3))
            except nats.errors.Error:  # no meta leader yet (503, timeout): not yet
                return False
            return True

        await wait_until_async(stream_created, 30, "JetStream to create the stream", 0.1)

        async def publish() -> int:
            await js.publish("bench", RECORD)
            return 1

        return [await drive(publish, n, seconds) for n in (1, 256)]
    finally:
        await nc.close()


# -- faultlab -----------------------------------------------------------------------------------


async def faultlab(cluster: LocalCluster, seconds: float) -> list[dict[str, float]]:
    async with LogClient.for_topology(cluster.topology, timeout_s=10.0) as log:
        await log.create_topic("bench", partitions=1, replication=3)
        await log.wait_until_ready("bench")
        one = [RECORD]
        batch = [RECORD] * BATCH

        async def produce_one() -> int:
            await log.produce("bench", one, partition=0)
            return 1

        async def produce_batch() -> int:
            await log.produce("bench", batch, partition=0)
            return BATCH

        leader = (await log.describe_topic("bench")).partitions[0].leader
        channel = grpc.aio.insecure_channel(
            cluster.topology.client_address(leader), options=CHANNEL_OPTIONS
        )
        admin = admin_pb2_grpc.AdminStub(channel)

        async def ping() -> int:  # the same client, link and server, doing nothing
            await admin.Ping(admin_pb2.PingRequest(from_node="bench"), timeout=5)
            return 1

        ceiling = await drive(ping, 256, seconds)
        await channel.close()
        runs = [{**ceiling, "grpc_ping_ceiling": True}]
        runs += [await drive(produce_one, n, seconds) for n in (1, 256)]
        for n in (1, 16):
            run = await drive(produce_batch, n, seconds)
            runs.append({**run, "records_per_request": BATCH})
        async with BatchingProducer(log) as producer:

            async def send_one() -> int:  # one record per call; the producer batches
                await producer.send("bench", RECORD, partition=0)
                return 1

            run = await drive(send_one, 256, seconds)
            runs.append(
                {
                    **run,
                    "batching_producer": True,
                    "records_per_request": round(
                        run["records_per_s"] * seconds / max(producer.requests, 1), 1
                    ),
                }
            )
        return runs


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with nats_cluster(Path(tmp)) as urls:
            nats_runs = asyncio.run(jetstream(urls, args.seconds))
        topology = Topology.build("127.0.0.1", 0, (Group("log", 3),))
        with LocalCluster(topology, Path(tmp) / "faultlab") as cluster:
            cluster.wait_for_leader(group="log/meta")
            ours = asyncio.run(faultlab(cluster, args.seconds))
    best_nats = max(r["records_per_s"] for r in nats_runs)
    results = {
        "record_bytes": len(RECORD),
        "nats_jetstream_r3": nats_runs,
        "faultlab_acks_all_fsync_batch": ours,
        "ratio_to_jetstream_256": {
            f"{r['outstanding']} outstanding x {r.get('records_per_request', 1)} records"
            + (" (batching producer)" if r.get("batching_producer") else ""): round(
                r["records_per_s"] / best_nats, 3
            )
            for r in ours
            if "grpc_ping_ceiling" not in r
        },
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
