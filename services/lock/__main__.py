"""A lock node: the lock state machine, its servicer and the leader's session clock on the
replicated-service chassis."""

from __future__ import annotations

import sys

from faultlab.lock.v1 import lock_pb2, lock_pb2_grpc

from services.lock import commands
from services.lock.commands import Expire, Lead
from services.lock.servicer import LockServicer
from services.lock.state import LockState
from services.replicated import Replicas, ReplicatedService, Servicer, replicated_main
from services.replicated.leader_clock import LeaderClock, wall_ms

GROUP = "lock"  # one Raft group, hosted by every node of the topology's lock group


class SessionClock:
    """The lock service's commands of the leader clock: `lead` extends every session,
    `expire` ends those due."""

    def lead(self) -> bytes:
        return commands.encode(Lead())

    def expire(self, due: tuple[int, ...], now_ms: int) -> bytes:
        return commands.encode(Expire(due, now_ms, wall_ms()))


def make_servicer(replicas: Replicas) -> LockServicer:
    group = replicas.group(GROUP, LockState)
    clock = LeaderClock(group, group.state, SessionClock())
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
