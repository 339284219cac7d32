"""A node's configuration: who it is and where everything is, from flags or environment.

    python -m services.kv --topology run/topology.toml --node kv1 --data-dir run/kv1

Every flag has an environment twin (FAULTLAB_TOPOLOGY, FAULTLAB_NODE, FAULTLAB_DATA_DIR,
FAULTLAB_PROBE_INTERVAL_MS, FAULTLAB_PEER_TRANSPORT), which is how docker-compose configures
containers. Two more exist for containers only: FAULTLAB_LISTEN_HOST (bind there instead of
the topology's host: 0.0.0.0 in a container) and FAULTLAB_PEER_HOST (dial peers' links
there: the Toxiproxy container's name). FAULTLAB_PEER_DIRECT, a host name template such as
"{group}-{ordinal}.{group}-peers", dials each peer at its own port on the host the template
names instead, past Toxiproxy: Kubernetes pods whose network faults Chaos Mesh injects
(cluster/k8s.py; `ordinal` is the node's index - 1, a StatefulSet pod's). Any problem
raises `ConfigError`;
`services.runtime.server.main` turns it into one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.topology import RAFT_LISTENER, Node, Topology, TopologyError

EXIT_BAD_CONFIG = 2
# Raft messages travel over gRPC streams or length-prefixed frames on plain TCP
# (docs/performance.md, "Peer transport", says why frames are the default).
PEER_TRANSPORTS = ("tcp", "grpc")
PEER_TRANSPORT_ENV = "FAULTLAB_PEER_TRANSPORT"


class ConfigError(Exception):
    """The node cannot start with this configuration; the message says why."""


PEER_DIRECT_ENV = "FAULTLAB_PEER_DIRECT"


def direct_host(template: str, node: Node) -> str:
    """FAULTLAB_PEER_DIRECT's host for `node`: {group}, {ordinal} (index - 1), {node}."""
    try:
        return template.format(group=node.group, ordinal=node.index - 1, node=node.id)
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"{PEER_DIRECT_ENV} {template!r}: name only {{group}}, {{ordinal}} or {{node}}"
        ) from e


@dataclass(frozen=True)
class NodeConfig:
    node_id: str
    group: str
    listen: str
    metrics: str
    topology: Topology
    data_dir: Path
    # peer node id -> the address this node dials it at (its Toxiproxy link).
    peers: dict[str, str] = field(default_factory=dict)
    # node id -> where this node dials a node of another group it calls (the gateway's
    # backends), again through its own Toxiproxy link.
    backends: dict[str, str] = field(default_factory=dict)
    probe_interval_ms: int = 300
    probe_timeout_ms: int = 1000
    wire: str = ""  # where the wire listener binds (a log node's Kafka port); "": none
    # Raft's framed TCP transport: where it binds ("": a node of no replicated group) and
    # where it dials each peer (through the peer's "_raft" Toxiproxy link).
    raft_listen: str = ""
    raft_peers: dict[str, str] = field(default_factory=dict)
    peer_transport: str = "tcp"  # which transport carries Raft messages: PEER_TRANSPORTS


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run one faultlab node.")
    env = os.environ.get
    p.add_argument("--topology", default=env("FAULTLAB_TOPOLOGY"), help="topology TOML file")
    p.add_argument("--node", default=env("FAULTLAB_NODE"), help="this node's id, e.g. kv1")
    p.add_argument("--data-dir", default=env("FAULTLAB_DATA_DIR"), help="where state is kept")
    p.add_argument(
        "--probe-interval-ms",
        type=int,
        default=int(env("FAULTLAB_PROBE_INTERVAL_MS", "300")),
        help="how often each peer link is probed",
    )
    p.add_argument(
        "--peer-transport",
        default=env(PEER_TRANSPORT_ENV, PEER_TRANSPORTS[0]),
        help=f"what carries Raft messages between nodes: {' or '.join(PEER_TRANSPORTS)}",
    )
    return p


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(message)


def parse(argv: Sequence[str], prog: str = "faultlab-node") -> NodeConfig:
    parser = _parser(prog)
    parser.__class__ = _RaisingParser
    try:
        args = parser.parse_args(list(argv))
    except ValueError as e:  # an env default that is not a number
        raise ConfigError(str(e)) from e
    if not args.topology:
        raise ConfigError("--topology (or FAULTLAB_TOPOLOGY) is required")
    if not args.node:
        raise ConfigError("--node (or FAULTLAB_NODE) is required")
    if args.probe_interval_ms < 10:
        raise ConfigError(f"--probe-interval-ms {args.probe_interval_ms} is below 10")
    if args.peer_transport not in PEER_TRANSPORTS:
        raise ConfigError(
            f"--peer-transport (FAULTLAB_PEER_TRANSPORT) {args.peer_transport!r}: "
            f"use {' or '.join(PEER_TRANSPORTS)}"
        )
    try:
        topo = Topology.from_file(args.topology)
        if not topo.resolved:
            raise ConfigError(f"{args.topology}: base_port 0 must be resolved by the launcher")
        me = topo.node(args.node)
        peer_host = os.environ.get("FAULTLAB_PEER_HOST", topo.host)
        direct = os.environ.get(PEER_DIRECT_ENV, "")

        def dial(node_id: str, listener: str = "") -> str:
            link = topo.link(me.id, node_id, listener)
            if direct:
                return f"{direct_host(direct, topo.node(node_id))}:{link.dst_port}"
            return f"{peer_host}:{link.listen_port}"

        peers = {p.id: dial(p.id) for p in topo.peers(me.id)}
        backends = {b.id: dial(b.id) for b in topo.backends(me.id)}
        raft_peers = (
            {p.id: dial(p.id, RAFT_LISTENER) for p in topo.peers(me.id)} if me.raft_port else {}
        )
    except TopologyError as e:
        raise ConfigError(str(e)) from e
    data_dir = Path(args.data_dir) if args.data_dir else Path("data") / me.id
    listen_host = os.environ.get("FAULTLAB_LISTEN_HOST", topo.host)
    return NodeConfig(
        node_id=me.id,
        group=me.group,
        listen=f"{listen_host}:{me.listen_port}",
        metrics=f"{listen_host}:{me.metrics_port}",
        topology=topo,
        data_dir=data_dir,
        peers=peers,
        backends=backends,
        probe_interval_ms=args.probe_interval_ms,
        wire=f"{listen_host}:{me.wire_port}" if me.wire_port else "",
        raft_listen=f"{listen_host}:{me.raft_port}" if me.raft_port else "",
        raft_peers=raft_peers,
        peer_transport=args.peer_transport,
    )
