"""Connectivity probing: each node pings each peer through the link it really uses.

The result is what the admin service reports and what `faultlab status` draws as a
who-can-reach-whom matrix. A probe goes through the same Toxiproxy proxy as the node's
replication traffic, so a cut, a black hole or added latency on a link shows up here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc

from services.runtime import logs, metrics, tls
from services.runtime.grpc_options import CHANNEL_OPTIONS

log = logging.getLogger(__name__)


@dataclass
class PeerProbe:
    """The latest probe of one peer link."""

    node_id: str
    via: str
    reachable: bool = False
    rtt_ms: float = 0.0
    last_error: str = "not probed yet"
    finished_at: float = 0.0  # time.monotonic() of the latest probe's end

    def to_proto(self, now: float) -> admin_pb2.PeerReachability:
        age_ms = (now - self.finished_at) * 1000 if self.finished_at else 0.0
        return admin_pb2.PeerReachability(
            node_id=self.node_id,
            reachable=self.reachable,
            rtt_ms=self.rtt_ms,
            last_error=self.last_error,
            last_probe_age_ms=age_ms,
            via=self.via,
        )


class ConnectivityProber:
    """One task per peer, each pinging its peer every `interval_s`, each ping bounded."""

    def __init__(
        self, node_id: str, peers: dict[str, str], interval_s: float, timeout_s: float
    ) -> None:
        self._node_id = node_id
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self.probes = {pid: PeerProbe(pid, addr) for pid, addr in sorted(peers.items())}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for probe in self.probes.values():
            self._tasks.append(asyncio.create_task(self._run(probe), name=f"probe-{probe.node_id}"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, probe: PeerProbe) -> None:
        async with tls.aio_channel(probe.via, options=CHANNEL_OPTIONS) as channel:
            stub = admin_pb2_grpc.AdminStub(channel)
            while True:
                await self._probe_once(stub, probe)
                await asyncio.sleep(self._interval_s)

    async def _probe_once(self, stub: admin_pb2_grpc.AdminStub, probe: PeerProbe) -> None:
        started = time.monotonic()
        try:
            reply = await stub.Ping(
                admin_pb2.PingRequest(from_node=self._node_id), timeout=self._timeout_s
            )
            if reply.node_id != probe.node_id:
                raise _WrongPeer(f"answered by {reply.node_id!r}, expected {probe.node_id!r}")
        except (grpc.aio.AioRpcError, _WrongPeer) as e:
            error = _describe(e)
            if probe.reachable or probe.finished_at == 0.0:
                logs.event(
                    log, "peer_unreachable", logging.WARNING, peer=probe.node_id, error=error
                )
            probe.reachable, probe.last_error = False, error
        else:
            if not probe.reachable:
                logs.event(log, "peer_reachable", peer=probe.node_id)
            probe.reachable, probe.last_error = True, ""
            probe.rtt_ms = (time.monotonic() - started) * 1000
            metrics.PEER_RTT.labels(probe.node_id).set(probe.rtt_ms / 1000)
        metrics.PEER_REACHABLE.labels(probe.node_id).set(1 if probe.reachable else 0)
        probe.finished_at = time.monotonic()


class _WrongPeer(Exception):
    pass


def _describe(e: Exception) -> str:
    if isinstance(e, grpc.aio.AioRpcError):
        return f"{e.code().name}: {e.details()}"
    return str(e)
