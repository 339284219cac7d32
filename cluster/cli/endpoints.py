"""Where other clients point: the KV nodes speak etcd's v3 API too (docs/etcd.md)."""

from __future__ import annotations

from services.runtime.topology import Topology


def etcd_endpoints_line(topo: Topology) -> str:
    """For `faultlab up` and `faultlab status`: the etcd endpoints (Toxiproxy client links,
    so every network fault reaches etcd clients too); empty without KV nodes."""
    kv = topo.client_addresses("kv")
    return f"etcd API: etcdctl --endpoints={','.join(kv)} get --prefix ''" if kv else ""
