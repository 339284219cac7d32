"""Throughput and latency for the page, from the nodes' own Prometheus metrics: each
node's `faultlab_raft_proposal_seconds` histogram (propose to applied, on the leader),
scraped once a second. Per topology group, each point is the proposals applied per
second since the last scrape and their p50 and p99 latency, from the buckets' deltas
as Prometheus's histogram_quantile reads them (linear within a bucket). A node that
restarted (its counters went back) counts from zero again."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.runtime.topology import Topology

HISTOGRAM = "faultlab_raft_proposal_seconds"
KEPT_POINTS = 180  # three minutes at one point a second


@dataclass
class Cumulative:
    """One node's histogram, summed over its Raft groups: count per upper bound."""

    buckets: dict[float, float] = field(default_factory=dict)

    def minus(self, earlier: Cumulative) -> dict[float, float]:
        if any(self.buckets.get(le, 0.0) < n for le, n in earlier.buckets.items()):
            return dict(self.buckets)  # the node restarted: its counts began again
        return {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()}


def parse(text: str) -> Cumulative:
    found = Cumulative()
    # Only the histogram's own lines go to the parser: a node exports a few hundred others.
    mine = "\n".join(
        line for line in text.splitlines() if line.startswith((HISTOGRAM, f"# TYPE {HISTOGRAM}"))
    )
    for family in text_string_to_metric_families(mine + "\n"):
        if family.name != HISTOGRAM:
            continue
        for s in family.samples:
            if s.name == f"{HISTOGRAM}_bucket":
                le = float(s.labels["le"])
                found.buckets[le] = found.buckets.get(le, 0.0) + s.value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative bucket counts (upper bound -> count), in seconds."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    target = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= target:
            if math.isinf(le):
                return lower  # past the last finite bound: say that bound
            share = (target - below) / (count - below) if count > below else 1.0
            return lower + (le - lower) * share
        lower, below = le, count
    return lower


class Rates:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._last: dict[str, tuple[float, Cumulative]] = {}
        self.series: dict[str, deque[dict[str, Any]]] = {
            g.name: deque(maxlen=KEPT_POINTS) for g in topology.groups
        }

    async def scrape(self, http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
        """One point per topology group; kept in `series` and returned."""
        nodes = [n for n in self.topology.nodes]
        texts = await asyncio.gather(*(self._metrics(http, n.id) for n in nodes))
        now = time.monotonic()
        deltas: dict[str, list[tuple[float, dict[float, float]]]] = {}
        for node, text in zip(nodes, texts, strict=True):
            if text is None:
                continue
            current = parse(text)
            last = self._last.get(node.id)
            self._last[node.id] = (now, current)
            if last is not None:
                deltas.setdefault(node.group, []).append((now - last[0], current.minus(last[1])))
        points = {}
        for group, series in self.series.items():
            point = _point(time.time(), deltas.get(group, []))
            series.append(point)
            points[group] = point
        return points

    async def _metrics(self, http: httpx.AsyncClient, node_id: str) -> str | None:
        url = f"http://{self.topology.address(self.topology.node(node_id).metrics_port)}/metrics"
        try:
            answer = await http.get(url, timeout=1.0)
            return answer.text if answer.status_code == 200 else None
        except httpx.HTTPError:
            return None  # down, paused or cut off: no point from it this second


def _point(wall_s: float, deltas: list[tuple[float, dict[float, float]]]) -> dict[str, Any]:
    summed: dict[float, float] = {}
    for _, buckets in deltas:
        for le, n in buckets.items():
            summed[le] = summed.get(le, 0.0) + n
    seconds = max((s for s, _ in deltas), default=0.0)
    total = summed.get(math.inf, 0.0)
    p50, p99 = quantile(0.5, summed), quantile(0.99, summed)
    return {
        "time_s": round(wall_s, 3),
        "ops_per_s": round(total / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": None if p50 is None else round(p50 * 1000, 2),
        "p99_ms": None if p99 is None else round(p99 * 1000, 2),
    }
