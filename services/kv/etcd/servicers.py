"""The etcd API's servicers, as the KV node's `__main__` registers them beside its own."""

from __future__ import annotations

import functools

from etcdapi.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from etcdapi.v3electionpb import v3election_pb2, v3election_pb2_grpc
from etcdapi.v3lockpb import v3lock_pb2, v3lock_pb2_grpc

from services.kv.compaction import Compaction
from services.kv.etcd.compactor import PeriodicCompactor
from services.kv.etcd.door import Door
from services.kv.etcd.forward import Forwarder
from services.kv.etcd.kv import EtcdKv
from services.kv.etcd.lease import EtcdLease, LeaseClock
from services.kv.etcd.lock_election import EtcdElection, EtcdLock
from services.kv.etcd.maintenance import EtcdAuth, EtcdCluster, EtcdMaintenance
from services.kv.etcd.recipes import Recipes
from services.kv.etcd.watch import EtcdWatch
from services.kv.state import KvState
from services.replicated import Replicas, Servicer
from services.replicated.leader_clock import LeaderClock


@functools.cache
def _door(replicas: Replicas, group: str, compaction: Compaction) -> Door:
    """One door per node, shared by its etcd servicers; the leader's loops started."""
    config = replicas.config
    forwarder = Forwarder(config.node_id, config.peers)
    kv = replicas.group(group, KvState)
    clock = LeaderClock(kv, kv.state.leases, LeaseClock())
    replicas.run_in_background("etcd-lease-clock", clock.run)
    if compaction.period_s is not None:
        compactor = PeriodicCompactor(kv, compaction.period_s)
        replicas.run_in_background("etcd-periodic-compactor", compactor.run)
    return Door(kv, config.topology, forwarder, clock)


@functools.cache
def _recipes(replicas: Replicas) -> Recipes:
    """The lock and election recipes, over this node's own etcd API."""
    return Recipes(replicas.config.listen)


def etcd_servicers(group: str, compaction: Compaction) -> list[Servicer]:
    services = rpc_pb2.DESCRIPTOR.services_by_name
    return [
        Servicer(
            services["KV"],
            rpc_pb2_grpc.add_KVServicer_to_server,
            lambda replicas: EtcdKv(_door(replicas, group, compaction)),
        ),
        Servicer(
            services["Watch"],
            rpc_pb2_grpc.add_WatchServicer_to_server,
            lambda replicas: EtcdWatch(_door(replicas, group, compaction)),
        ),
        Servicer(
            services["Lease"],
            rpc_pb2_grpc.add_LeaseServicer_to_server,
            lambda replicas: EtcdLease(_door(replicas, group, compaction)),
        ),
        Servicer(
            v3lock_pb2.DESCRIPTOR.services_by_name["Lock"],
            v3lock_pb2_grpc.add_LockServicer_to_server,
            lambda replicas: EtcdLock(_recipes(replicas)),
        ),
        Servicer(
            v3election_pb2.DESCRIPTOR.services_by_name["Election"],
            v3election_pb2_grpc.add_ElectionServicer_to_server,
            lambda replicas: EtcdElection(_recipes(replicas)),
        ),
        Servicer(
            services["Maintenance"],
            rpc_pb2_grpc.add_MaintenanceServicer_to_server,
            lambda replicas: EtcdMaintenance(_door(replicas, group, compaction)),
        ),
        Servicer(
            services["Cluster"],
            rpc_pb2_grpc.add_ClusterServicer_to_server,
            lambda replicas: EtcdCluster(_door(replicas, group, compaction)),
        ),
        Servicer(
            services["Auth"],
            rpc_pb2_grpc.add_AuthServicer_to_server,
            lambda replicas: EtcdAuth(_door(replicas, group, compaction)),
        ),
    ]
