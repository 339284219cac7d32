"""A log node: the metadata and group-coordinator groups on every log node, and the
partitions' groups it hosts, on the replicated-service chassis."""

from __future__ import annotations

import os
import sys

from faultlab.log.v1 import log_pb2, log_pb2_grpc

from services.log.coordinator import Coordinator
from services.log.group_rpcs import FENCE_COMMITS_ENV
from services.log.groups import GROUP as GROUPS_GROUP
from services.log.groups import GroupsState
from services.log.kafka import listener as kafka_listener
from services.log.kafka.door import BrokerConfig, Door
from services.log.meta import GROUP as META_GROUP
from services.log.meta import MetaState
from services.log.partitions import PartitionHost
from services.log.servicer import LogServicer
from services.replicated import (
    Replicas,
    ReplicatedService,
    Servicer,
    StateMachine,
    replicated_main,
)


def state_machine(group: str) -> StateMachine:
    if group == GROUPS_GROUP:
        return GroupsState()
    assert group == META_GROUP, f"partition groups are started by PartitionHost, not {group}"
    return MetaState()


def make_servicer(replicas: Replicas) -> LogServicer:
    meta_group = replicas.group(META_GROUP, MetaState)
    partitions = PartitionHost(replicas, meta_group.state)
    replicas.run_in_background("log-partitions", partitions.reconcile_forever)
    replicas.run_in_background("log-housekeeping", partitions.housekeeping_forever)
    coordinator = Coordinator(replicas.group(GROUPS_GROUP, GroupsState))
    replicas.run_in_background("log-group-coordinator", coordinator.run)
    servicer = LogServicer(
        meta_group,
        partitions,
        coordinator,
        replicas.voters(),
        replicas.config.topology.client_address,
        fence_commits=os.environ.get(FENCE_COMMITS_ENV, "1") != "0",
    )
    if replicas.config.wire:  # Kafka's protocol, a second front door on the same broker
        door = Door(
            servicer, replicas.config.topology, BrokerConfig.from_env(), replicas.config.peers
        )
        address = replicas.config.wire
        replicas.run_in_background("kafka-listener", lambda: kafka_listener.serve(address, door))
    return servicer


SERVICE = ReplicatedService(
    name="log",
    state_machine=state_machine,
    initial_groups=lambda config: [META_GROUP, GROUPS_GROUP],
    quiesce_by_default=True,
    servicers=[
        Servicer(
            log_pb2.DESCRIPTOR.services_by_name["Log"],
            log_pb2_grpc.add_LogServicer_to_server,
            make_servicer,
        )
    ],
)

if __name__ == "__main__":
    sys.exit(replicated_main(SERVICE))
