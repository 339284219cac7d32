"""Network faults, injected through the Toxiproxy links of a cluster.

Every link A->B (A dials B) is its own proxy, so any fault below is a set of toxics on a
set of proxies. Two nodes of a replicated group have two links each way, the gRPC one and
Raft's framed transport's ("kv1_to_kv2_raft"); a fault between them takes both, so it
means the same whichever transport carries Raft:

    net = Network(toxiproxy, topology)
    net.partition([["kv1"], ["kv2", "kv3"]])       # both directions, black hole
    net.partition_one_way(["kv1"], ["kv2"])        # kv1 cannot reach kv2; kv2 still reaches kv1
    net.isolate("kv1")                              # kv1 cut from its peers; clients still reach it
    net.latency("kv2", 200, jitter_ms=20)           # everything kv2 answers is 200 ms late
    net.latency(("kv1", "kv2"), 200)                # only the link kv1->kv2
    net.heal()                                      # every proxy enabled, every toxic gone

Three kinds of cut, because systems react to them differently:
- BLACKHOLE (default): bytes vanish and the connection stays open, like a dropped-packet
  partition (iptables DROP). Only timeouts and keepalives notice. Toxiproxy's `timeout`
  toxic with timeout 0; removing it closes the connection (the stream is corrupt by then).
- RESET: every connection is reset by peer at once, new ones too (`reset_peer` toxic).
- REFUSE: the proxy is disabled: connections closed, new ones refused.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from cluster.toxiproxy import AlreadyExists, Stream, ToxiproxyClient
from services.runtime.topology import CLIENT, Link, Topology

STREAMS: tuple[Stream, Stream] = ("upstream", "downstream")


class Cut(enum.Enum):
    BLACKHOLE = "blackhole"
    RESET = "reset"
    REFUSE = "refuse"


Target = str | tuple[str, str]
"""A node id (every link into it, clients included) or a (src, dst) pair of one link."""


class NetError(ValueError):
    """A fault names nodes or links the topology does not have."""


class Network:
    def __init__(self, toxiproxy: ToxiproxyClient, topology: Topology) -> None:
        self._tp = toxiproxy
        self._topo = topology

    # -- cuts ---------------------------------------------------------------------------

    def partition(self, sides: Sequence[Iterable[str]], kind: Cut = Cut.BLACKHOLE) -> list[str]:
        """Cut every link between nodes on different sides, both ways. Returns the links cut.

        Nodes on no side keep every link; client links are never cut (see `isolate`)."""
        groups = [self._known(side) for side in sides]
        _check_disjoint(groups)
        cut = []
        for a_side, b_side in itertools.permutations(groups, 2):
            cut += self._cut_between(a_side, b_side, kind)
        return cut

    def partition_one_way(
        self, sources: Iterable[str], targets: Iterable[str], kind: Cut = Cut.BLACKHOLE
    ) -> list[str]:
        """Cut the links from `sources` to `targets` only: requests from a source never
        arrive, while targets still reach the sources."""
        src, dst = self._known(sources), self._known(targets)
        _check_disjoint([src, dst])
        return self._cut_between(src, dst, kind)

    def isolate(self, node_id: str, kind: Cut = Cut.BLACKHOLE) -> list[str]:
        """Cut `node_id` from every peer of its group, both ways. Clients still reach it,
        which is what makes a partitioned old leader able to serve stale reads."""
        peers = [p.id for p in self._topo.peers(node_id)]
        return self.partition([[node_id], peers], kind)

    def cut_link(self, src: str, dst: str, kind: Cut = Cut.BLACKHOLE) -> list[str]:
        """Cut what `src` sends to `dst`: every link between them that way."""
        links = self._links(src, dst)
        for link in links:
            self._cut(link, kind)
        return [link.name for link in links]

    def heal(self) -> None:
        """Every proxy enabled, every toxic removed: latency and bandwidth limits too."""
        self._tp.reset()

    # -- degradations -------------------------------------------------------------------

    def latency(self, target: Target, latency_ms: int, jitter_ms: int = 0) -> list[str]:
        """Delay what flows back over the target's links (the answers) by latency ± jitter."""
        links = self._links_of(target)
        for link in links:
            self._tp.add_toxic(
                link.name,
                "faultlab_latency",
                "latency",
                "downstream",
                {"latency": latency_ms, "jitter": jitter_ms},
            )
        return [link.name for link in links]

    def bandwidth(self, target: Target, rate_kb_s: int) -> list[str]:
        """Limit both directions of the target's links to `rate_kb_s` KB/s."""
        links = self._links_of(target)
        for link in links:
            for stream in STREAMS:
                self._tp.add_toxic(
                    link.name,
                    f"faultlab_bandwidth_{stream}",
                    "bandwidth",
                    stream,
                    {"rate": rate_kb_s},
                )
        return [link.name for link in links]

    # -- internals ----------------------------------------------------------------------

    def _cut_between(self, src: list[str], dst: list[str], kind: Cut) -> list[str]:
        links = [link for a in src for b in dst for link in self._topo.links_between(a, b)]
        for link in links:
            self._cut(link, kind)
        return [link.name for link in links]

    def _cut(self, link: Link, kind: Cut) -> None:
        if kind is Cut.REFUSE:
            self._tp.set_enabled(link.name, False)
            return
        toxic, attributes = {
            Cut.BLACKHOLE: ("timeout", {"timeout": 0}),
            Cut.RESET: ("reset_peer", {"timeout": 0}),
        }[kind]
        for stream in STREAMS:
            # A link already cut stays cut: cutting it again changes nothing.
            with contextlib.suppress(AlreadyExists):
                self._tp.add_toxic(link.name, f"faultlab_cut_{stream}", toxic, stream, attributes)

    def _links_of(self, target: Target) -> list[Link]:
        if isinstance(target, tuple):
            return self._links(*target)
        node = self._known([target])[0]
        return [link for link in self._topo.links if link.dst == node]

    def _links(self, src: str, dst: str) -> list[Link]:
        if src != CLIENT:
            self._known([src])
        self._known([dst])
        links = self._topo.links_between(src, dst)
        if not links:
            raise NetError(f"no link {src}->{dst}: links join nodes of one group")
        return links

    def _known(self, nodes: Iterable[str]) -> list[str]:
        ids = list(nodes)
        known = {n.id for n in self._topo.nodes}
        unknown = [n for n in ids if n not in known]
        if unknown:
            raise NetError(
                f"unknown node(s) {', '.join(unknown)}; the cluster has {', '.join(sorted(known))}"
            )
        return ids


def cut_of(proxy: dict[str, Any]) -> Cut | None:
    """How a link is cut, read back from its Toxiproxy proxy (as `Network` cuts it), or
    None when it is not."""
    if proxy and not proxy.get("enabled", True):
        return Cut.REFUSE
    kinds = {"timeout": Cut.BLACKHOLE, "reset_peer": Cut.RESET}
    for toxic in proxy.get("toxics", []):
        if toxic.get("name", "").startswith("faultlab_cut"):
            return kinds.get(toxic.get("type", ""), Cut.BLACKHOLE)
    return None


def _check_disjoint(sides: list[list[str]]) -> None:
    seen: set[str] = set()
    for side in sides:
        both = seen.intersection(side)
        if both:
            raise NetError(f"node(s) {', '.join(sorted(both))} on two sides of a partition")
        seen.update(side)
