"""The cluster's shape: groups, nodes, their ports and the Toxiproxy links between them.

One TOML file describes it; everything else (the launcher, every node process, the
docker-compose renderer, the chaos module) derives addresses from the `Topology` built
here, so they cannot drift apart.

    [cluster]
    host = "127.0.0.1"
    base_port = 21000        # 0: the launcher picks a free block at start

    [groups.kv]
    nodes = 3
    # base_port = 22000      # optional: place this group's block explicitly

Port layout, in order from the base: the Toxiproxy API; then for each group its block,
node by node (listen, metrics); then one client->node proxy per node; then one proxy per
ordered pair of nodes in the group (A dials B through proxy "A_to_B"); then, for a group
whose service dials others (the gateway), one proxy from each of its nodes to each node
of those groups ("gateway1_to_kv2"), so every hop can be faulted like a peer link.

A group whose service has a wire listener of another protocol (the log nodes' Kafka) gets,
after every block above, a port per node for it and a client link to each
("client_to_log1_kafka"): appended at the end so the ports above never move.

Last, every node of a replicated group gets a port for Raft's framed TCP transport
(services/raft/transport/frames.py) and one link per ordered pair of its group's nodes
to it ("kv1_to_kv2_raft"). A fault between two nodes applies to every link between them
(chaos/net.py), so it reaches Raft whichever transport carries it.
"""

from __future__ import annotations

import ipaddress
import itertools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.runtime.registry import SERVICES

CLIENT = "client"
RAFT_LISTENER = "raft"  # the listener name of Raft's framed TCP transport links
MAX_PORT = 65535


class TopologyError(ValueError):
    """The topology file or its values are not valid; the message says what and where."""


@dataclass(frozen=True)
class Node:
    id: str
    group: str
    index: int
    listen_port: int
    metrics_port: int
    client_proxy_port: int
    wire_port: int = 0  # the wire listener's (SERVICES[group].wire_listener), 0: none
    raft_port: int = 0  # Raft's framed TCP transport (replicated groups), 0: none


@dataclass(frozen=True)
class Link:
    """A Toxiproxy proxy: traffic from `src` (a node id, or "client") to node `dst`, to its
    gRPC port or, for a link named with a `listener`, to that listener's port (a wire
    listener's, or RAFT_LISTENER's)."""

    src: str
    dst: str
    listen_port: int
    dst_port: int  # where on `dst` the proxy forwards to
    listener: str = ""

    @property
    def name(self) -> str:
        tail = f"_{self.listener}" if self.listener else ""
        return f"{self.src}_to_{self.dst}{tail}"


@dataclass(frozen=True)
class Group:
    name: str
    size: int
    base_port: int | None = None


@dataclass(frozen=True)
class Topology:
    host: str
    base_port: int
    groups: tuple[Group, ...]
    nodes: tuple[Node, ...] = field(default=(), compare=False)
    links: tuple[Link, ...] = field(default=(), compare=False)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def build(cls, host: str, base_port: int, groups: tuple[Group, ...]) -> Topology:
        _check_host(host)
        _check_groups(groups)
        if base_port != 0 and not 1024 <= base_port <= MAX_PORT:
            raise TopologyError(f"cluster.base_port {base_port} must be 0 or in 1024..{MAX_PORT}")
        if base_port == 0:
            return cls(host=host, base_port=0, groups=groups)
        nodes, links = _lay_out(base_port, groups)
        topo = cls(host=host, base_port=base_port, groups=groups, nodes=nodes, links=links)
        _check_ports(topo)
        return topo

    @classmethod
    def from_toml(cls, text: str, source: str = "<topology>") -> Topology:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise TopologyError(f"{source}: not valid TOML: {e}") from e
        return cls.from_dict(data, source)

    @classmethod
    def from_file(cls, path: str | Path) -> Topology:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise TopologyError(f"cannot read topology file {p}: {e.strerror}") from e
        return cls.from_toml(text, str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<topology>") -> Topology:
        _only_keys(data, {"cluster", "groups"}, source)
        cluster = data.get("cluster", {})
        _only_keys(cluster, {"host", "base_port"}, f"{source} [cluster]")
        host = _optional(cluster, "host", str, f"{source} [cluster]") or "127.0.0.1"
        base_port = _optional(cluster, "base_port", int, f"{source} [cluster]") or 0
        raw_groups = data.get("groups")
        if not isinstance(raw_groups, Mapping) or not raw_groups:
            raise TopologyError(f"{source}: needs at least one [groups.NAME] table")
        groups = []
        for name, spec in raw_groups.items():
            where = f"{source} [groups.{name}]"
            if not isinstance(spec, Mapping):
                raise TopologyError(f"{where}: must be a table")
            _only_keys(spec, {"nodes", "base_port"}, where)
            if "nodes" not in spec:
                raise TopologyError(f"{where}: missing required key 'nodes'")
            size = _optional(spec, "nodes", int, where)
            group_base = _optional(spec, "base_port", int, where)
            groups.append(Group(name=name, size=size, base_port=group_base))
        return cls.build(host, base_port, tuple(groups))

    @property
    def node_ids(self) -> list[str]:
        """Every node's id, known before the ports are (base_port 0 resolves at start)."""
        return [_node_id(g.name, i) for g in self.groups for i in range(1, g.size + 1)]

    def with_base_port(self, base_port: int) -> Topology:
        """The same cluster laid out from `base_port` (how the launcher resolves base_port = 0)."""
        return Topology.build(self.host, base_port, self.groups)

    # -- queries ------------------------------------------------------------------------

    @property
    def resolved(self) -> bool:
        return self.base_port != 0

    @property
    def toxiproxy_port(self) -> int:
        return self.base_port

    def ports(self) -> list[int]:
        """Every port this topology listens on."""
        out = [self.toxiproxy_port]
        for n in self.nodes:
            out += [n.listen_port, n.metrics_port]
            out += [n.wire_port] if n.wire_port else []
            out += [n.raft_port] if n.raft_port else []
        out += [link.listen_port for link in self.links]
        return out

    def port_span(self) -> int:
        """How many consecutive ports a layout from one base needs (groups without base_port)."""
        blocks = sum(_group_span(g, self.groups) for g in self.groups if g.base_port is None)
        return 1 + blocks + sum(_wire_span(g) + _raft_span(g) for g in self.groups)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        known = ", ".join(n.id for n in self.nodes) or "none"
        raise TopologyError(f"unknown node {node_id!r}; the topology has: {known}")

    def group_nodes(self, group: str) -> list[Node]:
        if group not in {g.name for g in self.groups}:
            raise TopologyError(f"unknown group {group!r}")
        return [n for n in self.nodes if n.group == group]

    def peers(self, node_id: str) -> list[Node]:
        me = self.node(node_id)
        return [n for n in self.nodes if n.group == me.group and n.id != me.id]

    def backends(self, node_id: str) -> list[Node]:
        """The nodes of other groups that `node_id` calls (a gateway's KV, lock, log nodes)."""
        dialed = _dialed_groups(self.node(node_id).group, self.groups)
        return [n for n in self.nodes if n.group in dialed]

    def link(self, src: str, dst: str, listener: str = "") -> Link:
        for link in self.links:
            if link.src == src and link.dst == dst and link.listener == listener:
                return link
        via = f" ({listener})" if listener else ""
        raise TopologyError(f"no link from {src!r} to {dst!r}{via}")

    def address(self, port: int) -> str:
        return f"{self.host}:{port}"

    def listen_address(self, node_id: str) -> str:
        return self.address(self.node(node_id).listen_port)

    def peer_dial_address(self, src: str, dst: str) -> str:
        """Where `src` dials `dst`: always through the Toxiproxy link src->dst."""
        return self.address(self.link(src, dst).listen_port)

    def links_between(self, src: str, dst: str) -> list[Link]:
        """Every link from `src` to `dst`: the gRPC one and, between nodes of a replicated
        group, Raft's framed transport's; a fault between two nodes takes them all."""
        return [link for link in self.links if link.src == src and link.dst == dst]

    def client_address(self, node_id: str) -> str:
        """Where clients dial a node: through the Toxiproxy link client->node."""
        return self.address(self.link(CLIENT, node_id).listen_port)

    def client_addresses(self, group: str) -> list[str]:
        """Where clients dial each node of `group` (an etcd client's endpoints, for kv)."""
        return [self.client_address(n.id) for n in self.nodes if n.group == group]

    def wire_address(self, node_id: str) -> str:
        """Where clients dial a node's wire listener (a log node's Kafka port): through its
        own client link, so network faults reach those clients too."""
        node = self.node(node_id)
        listener = SERVICES[node.group].wire_listener
        return self.address(self.link(CLIENT, node_id, listener).listen_port)

    def wire_addresses(self, group: str) -> list[str]:
        """Every node's wire address in `group` (Kafka's bootstrap servers, for log)."""
        return [self.wire_address(n.id) for n in self.nodes if n.group == group]

    def to_toml(self) -> str:
        lines = ["[cluster]", f'host = "{self.host}"', f"base_port = {self.base_port}", ""]
        for g in self.groups:
            lines += [f"[groups.{g.name}]", f"nodes = {g.size}"]
            if g.base_port is not None:
                lines.append(f"base_port = {g.base_port}")
            lines.append("")
        return "\n".join(lines)


def _node_id(group: str, index: int) -> str:
    return f"{group}{index}"


def _dialed_groups(group: str, groups: tuple[Group, ...]) -> list[str]:
    present = {g.name for g in groups}
    return [name for name in SERVICES[group].dials if name in present]


def _group_span(group: Group, groups: tuple[Group, ...]) -> int:
    # listen + metrics + client proxy per node, one proxy per ordered pair, and one per
    # (node, node it dials in another group).
    size = group.size
    dialed = sum(g.size for g in groups if g.name in _dialed_groups(group.name, groups))
    return 3 * size + size * (size - 1) + size * dialed


def _wire_span(group: Group) -> int:
    # the wire listener and its client link, per node
    return 2 * group.size if SERVICES[group.name].wire_listener else 0


def _raft_span(group: Group) -> int:
    # the framed transport's port per node and a link per ordered pair
    return group.size * group.size if SERVICES[group.name].replicated else 0


def _lay_out(
    base_port: int, groups: tuple[Group, ...]
) -> tuple[tuple[Node, ...], tuple[Link, ...]]:
    nodes: list[Node] = []
    links: list[Link] = []
    blocks: dict[str, Iterator[int]] = {}
    next_shared = itertools.count(base_port + 1)
    for g in groups:
        ports: Iterator[int] = (
            itertools.count(g.base_port) if g.base_port is not None else next_shared
        )
        block = [next(ports) for _ in range(_group_span(g, groups))]
        it = blocks[g.name] = iter(block)
        group_nodes = []
        for i in range(1, g.size + 1):
            listen, metrics = next(it), next(it)
            group_nodes.append(Node(_node_id(g.name, i), g.name, i, listen, metrics, 0))
        group_nodes = [replace(n, client_proxy_port=next(it)) for n in group_nodes]
        links += [Link(CLIENT, n.id, n.client_proxy_port, n.listen_port) for n in group_nodes]
        for a, b in itertools.permutations(group_nodes, 2):
            links.append(Link(a.id, b.id, next(it), b.listen_port))
        nodes += group_nodes
    # Links to other groups' nodes come last in the dialling group's block, once every
    # node exists.
    for g in groups:
        dialed = _dialed_groups(g.name, groups)
        sources = [n for n in nodes if n.group == g.name]
        links += [
            Link(a.id, b.id, next(blocks[g.name]), b.listen_port)
            for a in sources
            for b in nodes
            if b.group in dialed
        ]
    # Wire listeners last of all, from the shared counter: the ports above stay put.
    for i, n in enumerate(nodes):
        listener = SERVICES[n.group].wire_listener
        if listener:
            nodes[i] = replace(n, wire_port=next(next_shared))
            links.append(Link(CLIENT, n.id, next(next_shared), nodes[i].wire_port, listener))
    # Raft's framed transport after them, again from the shared counter.
    for i, n in enumerate(nodes):
        if SERVICES[n.group].replicated:
            nodes[i] = replace(n, raft_port=next(next_shared))
    for g in groups:
        if SERVICES[g.name].replicated:
            members = [n for n in nodes if n.group == g.name]
            links += [
                Link(a.id, b.id, next(next_shared), b.raft_port, RAFT_LISTENER)
                for a, b in itertools.permutations(members, 2)
            ]
    return tuple(nodes), tuple(links)


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError as e:
        raise TopologyError(f"cluster.host {host!r} is not an IP address") from e


def _check_groups(groups: tuple[Group, ...]) -> None:
    if not groups:
        raise TopologyError("the topology needs at least one group")
    for g in groups:
        if g.name not in SERVICES:
            raise TopologyError(f"unknown group {g.name!r}; groups are: {', '.join(SERVICES)}")
        if g.size < 1:
            raise TopologyError(f"group {g.name!r} has {g.size} nodes; it needs at least 1")
        if g.size > 9:
            raise TopologyError(f"group {g.name!r} has {g.size} nodes; at most 9 are supported")
        if g.base_port is not None and not 1024 <= g.base_port <= MAX_PORT:
            raise TopologyError(
                f"group {g.name!r}: base_port {g.base_port} not in 1024..{MAX_PORT}"
            )


def _check_ports(topo: Topology) -> None:
    owners: dict[int, str] = {topo.toxiproxy_port: "the Toxiproxy API"}
    claims = [(n.listen_port, f"{n.id} listen") for n in topo.nodes]
    claims += [(n.metrics_port, f"{n.id} metrics") for n in topo.nodes]
    claims += [(n.wire_port, f"{n.id} wire listener") for n in topo.nodes if n.wire_port]
    claims += [(n.raft_port, f"{n.id} raft listener") for n in topo.nodes if n.raft_port]
    claims += [(link.listen_port, f"link {link.name}") for link in topo.links]
    for port, owner in claims:
        if port > MAX_PORT:
            raise TopologyError(f"{owner} would need port {port}, past {MAX_PORT}")
        if port in owners:
            raise TopologyError(f"port {port} overlaps: {owners[port]} and {owner}")
        owners[port] = owner


def _only_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    if not isinstance(table, Mapping):
        raise TopologyError(f"{where}: must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise TopologyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _optional(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TopologyError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    return value
