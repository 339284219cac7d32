"""A lock node: the lock state machine, its servicer and the leader's session clock on the
replicated-service chassis."""

from __future__ import annotations

import sys

from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from services.lock.leader_clock import LeaderClock
from services.lock.servicer import LockServicer
from services.lock.state import LockState
from services.replicated import Replicas, ReplicatedService, Servicer, replicated_main

GROUP = "lock"  # one Raft group, hosted by every node of the topology's lock group


def make_servicer(replicas: Replicas) -> LockServicer:
    group = replicas.group(GROUP, LockState)
    clock = LeaderClock(group)
    replicas.run_in_background("lock-session-clock", clock.run)
    return LockServicer(group, clock)


SERVICE = ReplicatedService(
    name="lock",
    state_machine=lambda group: LockState(),
    initial_groups=lambda config: [GROUP],
    servicers=[
        Servicer(
            lock_pb2.DESCRIPTOR.services_by_name["Lock"],
            lock_pb2_grpc.add_LockServicer_to_server,
            make_servicer,
        )
    ],
)

if __name__ == "__main__":
    sys.exit(replicated_main(SERVICE))
