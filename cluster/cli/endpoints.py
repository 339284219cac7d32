"""Where other clients point: the KV nodes speak etcd's v3 API too (docs/etcd.md), the log
nodes Kafka's protocol (docs/kafka.md)."""

from __future__ import annotations

from services.runtime.topology import Topology


def etcd_endpoints_line(topo: Topology) -> str:
    """For `faultlab up` and `faultlab status`: the etcd endpoints (Toxiproxy client links,
    so every network fault reaches etcd clients too); empty without KV nodes."""
    kv = topo.client_addresses("kv")
    return f"etcd API: etcdctl --endpoints={','.join(kv)} get --prefix ''" if kv else ""


def kafka_bootstrap_line(topo: Topology) -> str:
    """For `faultlab up` and `faultlab status`: the Kafka bootstrap servers (each log node's
    Kafka client link); empty without log nodes."""
    log = topo.wire_addresses("log") if any(g.name == "log" for g in topo.groups) else []
    return f"Kafka: kcat -b {','.join(log)} -L" if log else ""
