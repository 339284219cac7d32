"""The consumer-group coordinator's state machine (Kafka's group coordinator, whose state
lives in __consumer_offsets; here, the `log/groups` Raft group on every log node).

Membership changes are commands, so every replica agrees on each generation and its
assignment; liveness is not. Heartbeats go to the coordinator's leader and stay in its
memory (`coordinator.py`), which proposes `expire` for members past their session
timeout, as Kafka's coordinator does with its timers.

Commands (commands.py) and what each returns (results.py):
    Join            -> Joined (member id, generation)
    Leave           -> Left
    ExpireMembers   -> MembersExpired
    Commit          -> Committed | Refusal UNKNOWN_MEMBER, ILLEGAL_GENERATION or
                       REBALANCE_IN_PROGRESS
    ClassicJoined   -> ClassicGeneration | Refusal ILLEGAL_GENERATION
    ClassicAssigned -> ClassicGeneration | Refusal ILLEGAL_GENERATION or
                       REBALANCE_IN_PROGRESS
Commit's `fenced` False is the unsafe mode: a commit is accepted whatever its generation,
as offsets written straight to ZooKeeper by Kafka 0.8's consumers were.

Two protocols share the table, and every group's offsets, whoever committed them:
faultlab.log.v1's, where the coordinator assigns (`protocol_type` ""), and Kafka's classic
protocol (`protocol_type` "consumer", say), where the leader member assigns. A classic
group moves through Kafka's phases: "empty" (no members), "preparing" (a member left or
was expired: the rest must rejoin), "completing" (a generation chosen, its assignment not
yet given) and "stable". The join phase itself (who has asked to join the next
generation) is the coordinator leader's memory, as in Kafka; it ends in ClassicJoined.

Snapshot (format 1): {"v": 1, "joins", "groups": {name: {"generation", "assignor",
"partitions", "members": {id: {"client_id", "topics", "timeout_ms", "assignment"}},
"offsets": [[topic, partition, offset]]}}}. Format 0 held groups and members as lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.log import results
from services.log.assignors import assign
from services.log.commands import (
    GROUPS_COMMANDS,
    ClassicAssigned,
    ClassicJoined,
    Commit,
    ExpireMembers,
    GroupsCommand,
    Join,
    Leave,
)
from services.log.results import ClassicGeneration, Committed, Joined, Left, MembersExpired
from services.replicated.codec import FORMAT, pack, snapshot_version, unpack
from services.replicated.refusal import Refusal

GROUP = "log/groups"

GroupsResult = Joined | Left | MembersExpired | Committed | ClassicGeneration | Refusal

EMPTY, PREPARING, COMPLETING, STABLE = "empty", "preparing", "completing", "stable"
Listener = Callable[[], None]


@dataclass
class Member:
    client_id: str
    topics: list[str]
    timeout_ms: int  # the session timeout
    assignment: dict[str, list[int]] = field(default_factory=dict)
    # Kafka's classic protocol only: the member's host, rebalance timeout, the protocols
    # it offered ([name, metadata]) and the assignment its leader gave it (opaque bytes).
    host: str = ""
    rebalance_ms: int = 0
    protocols: list[list[Any]] = field(default_factory=list)
    classic_assignment: bytes = b""

    def to_map(self) -> dict[str, Any]:
        m = {
            "client_id": self.client_id,
            "topics": self.topics,
            "timeout_ms": self.timeout_ms,
            "assignment": self.assignment,
        }
        if self.protocols:
            m |= {
                "host": self.host,
                "rebalance_ms": self.rebalance_ms,
                "protocols": self.protocols,
                "classic_assignment": self.classic_assignment,
            }
        return m

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Member:
        member = cls.from_format0([m["client_id"], m["topics"], m["timeout_ms"], m["assignment"]])
        member.host = m.get("host", "")
        member.rebalance_ms = m.get("rebalance_ms", 0)
        member.protocols = [list(p) for p in m.get("protocols", [])]
        member.classic_assignment = m.get("classic_assignment", b"")
        return member

    def metadata(self, protocol: str) -> bytes:
        """What the member offered for `protocol` (classic)."""
        return next((meta for name, meta in self.protocols if name == protocol), b"")

    @classmethod
    def from_format0(cls, row: list[Any]) -> Member:
        client_id, topics, timeout_ms, assignment = row
        return cls(client_id, list(topics), timeout_ms, {k: list(v) for k, v in assignment.items()})


@dataclass
class ConsumerGroup:
    generation: int = 0
    assignor: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)  # as of the last rebalance
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Kafka's classic protocol ("" for faultlab.log.v1's groups)
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    phase: str = EMPTY

    def to_map(self) -> dict[str, Any]:
        m = {
            "generation": self.generation,
            "assignor": self.assignor,
            "partitions": self.partitions,
            "members": {m: v.to_map() for m, v in self.members.items()},
            "offsets": [[t, p, o] for (t, p), o in self.offsets.items()],
        }
        if self.protocol_type:
            m |= {
                "protocol_type": self.protocol_type,
                "protocol": self.protocol,
                "leader": self.leader,
                "phase": self.phase,
            }
        return m

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> ConsumerGroup:
        members = {k: Member.from_map(v) for k, v in m["members"].items()}
        group = cls._made(m["generation"], m["assignor"], m["partitions"], members, m["offsets"])
        group.protocol_type = m.get("protocol_type", "")
        group.protocol = m.get("protocol", "")
        group.leader = m.get("leader", "")
        group.phase = m.get("phase", EMPTY)
        return group

    @property
    def classic(self) -> bool:
        """Whether Kafka's classic protocol runs this group (its leader member assigns)."""
        return bool(self.protocol_type)

    @classmethod
    def from_format0(cls, row: list[Any]) -> ConsumerGroup:
        generation, assignor, partitions, members, offsets = row
        by_id = {k: Member.from_format0(v) for k, v in members.items()}
        return cls._made(generation, assignor, partitions, by_id, offsets)

    @classmethod
    def _made(
        cls,
        generation: int,
        assignor: int,
        partitions: dict[str, int],
        members: dict[str, Member],
        offsets: list[list[Any]],
    ) -> ConsumerGroup:
        committed = {(t, p): o for t, p, o in offsets}
        return cls(generation, assignor, members, dict(partitions), committed)

    def rebalance(self) -> None:
        if self.classic:  # the members rejoin; the join phase picks the next generation
            if self.members:
                self.phase = PREPARING
            else:  # as Kafka: the empty group's join phase ends at once, a generation on
                self.generation += 1
                self.phase, self.protocol, self.leader = EMPTY, "", ""
            return
        self.generation += 1
        subscriptions = {m: member.topics for m, member in self.members.items()}
        for m, assigned in assign(self.assignor, subscriptions, self.partitions).items():
            self.members[m].assignment = assigned


class GroupsState:
    def __init__(self) -> None:
        self.groups: dict[str, ConsumerGroup] = {}
        self.joins = 0  # numbers new member ids
        self.listeners: set[Listener] = set()  # told after every command (SyncGroup waits)

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> GroupsResult:
        result = self._apply(GROUPS_COMMANDS.decode(command))
        for listener in list(self.listeners):
            listener()
        return result

    def _apply(self, cmd: GroupsCommand) -> GroupsResult:
        if isinstance(cmd, Join):
            return self._join(cmd)
        if isinstance(cmd, Leave):
            return Left(bool(self._leave(cmd.group, [cmd.member_id])))
        if isinstance(cmd, ExpireMembers):
            return MembersExpired(tuple(self._leave(cmd.group, cmd.member_ids)))
        if isinstance(cmd, ClassicJoined):
            return self._classic_joined(cmd)
        if isinstance(cmd, ClassicAssigned):
            return self._classic_assigned(cmd)
        return self._commit(cmd)

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "joins": self.joins,
                "groups": {name: g.to_map() for name, g in self.groups.items()},
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        if snapshot_version(state) == 0:
            groups = {n: ConsumerGroup.from_format0(g) for n, g in state["groups"].items()}
        else:
            groups = {n: ConsumerGroup.from_map(g) for n, g in state["groups"].items()}
        self.joins = state["joins"]
        self.groups = groups

    # -- commands ---------------------------------------------------------------------------

    def _join(self, cmd: Join) -> Joined:
        group = self.groups.setdefault(cmd.group, ConsumerGroup())
        if group.classic and not group.members:  # an empty Kafka group changes protocol
            group.protocol_type = group.protocol = group.leader = ""
        member_id = cmd.member_id
        if not member_id or member_id not in group.members:
            self.joins += 1
            member_id = f"{cmd.client_id}-{self.joins}"
        group.members[member_id] = Member(cmd.client_id, list(cmd.topics), cmd.timeout_ms)
        group.assignor = cmd.assignor
        group.partitions = dict(cmd.partitions)
        group.rebalance()
        return Joined(member_id, group.generation)

    def _leave(self, name: str, member_ids: Sequence[str]) -> list[str]:
        """The members that were in the group and are gone now (a rebalance if any)."""
        group = self.groups.get(name)
        gone = [m for m in member_ids if group is not None and m in group.members]
        if group is not None and gone:
            for m in gone:
                del group.members[m]
            group.rebalance()
        return gone

    def _commit(self, cmd: Commit) -> Committed | Refusal:
        group = self.groups.setdefault(cmd.group, ConsumerGroup())
        refused = _refuse_commit(cmd, group) if cmd.fenced else None
        if refused is not None:
            return refused
        for topic, partition, offset in cmd.offsets:
            group.offsets[(topic, partition)] = offset
        return Committed()

    def _classic_joined(self, cmd: ClassicJoined) -> ClassicGeneration | Refusal:
        group = self.groups.setdefault(cmd.group, ConsumerGroup())
        if cmd.generation != group.generation + 1:  # a deposed leader's late join phase
            return results.illegal_generation(cmd.generation, group.generation)
        group.generation = cmd.generation
        group.protocol_type, group.protocol, group.leader = (
            cmd.protocol_type,
            cmd.protocol,
            cmd.leader,
        )
        group.members = {
            member_id: Member(
                client_id,
                [],
                session_ms,
                host=host,
                rebalance_ms=rebalance_ms,
                protocols=[list(p) for p in protocols],
            )
            for member_id, client_id, host, session_ms, rebalance_ms, protocols in cmd.members
        }
        group.phase = COMPLETING if group.members else EMPTY
        return ClassicGeneration(group.generation)

    def _classic_assigned(self, cmd: ClassicAssigned) -> ClassicGeneration | Refusal:
        group = self.groups.get(cmd.group)
        if group is None or cmd.generation != group.generation:
            current = group.generation if group else 0
            return results.illegal_generation(cmd.generation, current)
        if group.phase == STABLE:  # the leader's retry: the first assignment stands
            return ClassicGeneration(group.generation)
        if group.phase != COMPLETING:
            return results.rebalance_in_progress(cmd.group)
        for member_id, member in group.members.items():
            member.classic_assignment = cmd.assignments.get(member_id, b"")
        group.phase = STABLE
        return ClassicGeneration(group.generation)


def _refuse_commit(cmd: Commit, group: ConsumerGroup) -> Refusal | None:
    """Why a fenced commit is refused, by the rules of the protocol it came through."""
    if cmd.classic and cmd.generation < 0 and not cmd.member_id and not group.members:
        return None  # Kafka: a consumer outside any group commits to an empty one
    if cmd.member_id not in group.members:
        return results.unknown_member(cmd.group, cmd.member_id)
    if cmd.generation != group.generation:
        return results.illegal_generation(cmd.generation, group.generation)
    if group.classic and group.phase == COMPLETING:  # as Kafka: wait for the assignment
        return results.rebalance_in_progress(cmd.group)
    return None
