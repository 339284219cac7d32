"""A fault of an experiment's timeline, as Chaos Mesh can inject it: what, on whom, when.

The lab aims faults at run time ("the leader when the fault starts"); Chaos Mesh selects
pods by labels when the resource is applied, so a step names a node ("kv2": pod kv-1), a
role ("leader", "follower": one pod of the group, Chaos Mesh's `mode: one`, the aim
lost), or every pod of a group ("all"). Times are fractions of the run, as in the lab.
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> the Chaos Mesh resource and action it becomes (render.py)
KINDS = {
    "partition": ("NetworkChaos", "partition"),  # both ways between target and peers
    "partition-to": ("NetworkChaos", "partition"),  # only what target sends to peers
    "partition-from": ("NetworkChaos", "partition"),  # only what peers send to target
    "delay": ("NetworkChaos", "delay"),  # what target sends (to peers, if named) is late
    "pod-kill": ("PodChaos", "pod-kill"),  # SIGKILL; the StatefulSet starts it again
    "pod-failure": ("PodChaos", "pod-failure"),  # unavailable for the window
    "io-latency": ("IOChaos", "latency"),  # every fsync on the data volume late
    "io-fault": ("IOChaos", "fault"),  # every fsync on the data volume fails (EIO)
    "time-offset": ("TimeChaos", ""),  # the target's clock shifted
}
ROLES = ("leader", "follower", "all")
CLIENT_STEP_GAP = (
    "the pause is a step of the workload, between a client's read and its write (or a poll "
    "and its commit): a resource applied on a schedule cannot aim between two steps of a client"
)


@dataclass(frozen=True)
class MeshStep:
    name: str  # the lab's fault name: isolate-leader, slow-replica, ...
    kind: str  # a key of KINDS
    target: str  # a node id, or a ROLE of `group`
    group: str  # the Raft group (or service group) the target belongs to
    start: float  # fraction of the run
    end: float
    # the other side of a network fault: a group, "toxiproxy" (the clients' side: their
    # links run through its pod), or "" for the target's own group
    peers: str = ""
    length_s: float = 0.0  # a fixed length in seconds instead of `end` (a short blip)
    latency_ms: int = 0  # delay, io-latency
    jitter_ms: int = 0
    offset_ms: int = 0  # time-offset
    note: str = ""  # where Chaos Mesh differs from the lab's fault

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {sorted(KINDS)}")
