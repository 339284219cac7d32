"""Prometheus metrics common to every node, served on the node's metrics port at /metrics."""

from __future__ import annotations

from prometheus_client import Gauge, Info

NODE_INFO = Info("faultlab_node", "Identity of this node")
UPTIME_START = Gauge("faultlab_start_time_seconds", "Unix time this node started")
PEER_REACHABLE = Gauge(
    "faultlab_peer_reachable", "1 when the latest probe of the peer link succeeded", ["peer"]
)
PEER_RTT = Gauge(
    "faultlab_peer_rtt_seconds", "Round-trip time of the latest successful probe", ["peer"]
)
