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
    Commit          -> Committed | Refusal UNKNOWN_MEMBER or ILLEGAL_GENERATION
Commit's `fenced` False is the unsafe mode: a commit is accepted whatever its generation,
as offsets written straight to ZooKeeper by Kafka 0.8's consumers were.

Snapshot (format 1): {"v": 1, "joins", "groups": {name: {"generation", "assignor",
"partitions", "members": {id: {"client_id", "topics", "timeout_ms", "assignment"}},
"offsets": [[topic, partition, offset]]}}}. Format 0 held groups and members as lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.log import results
from services.log.assignors import assign
from services.log.commands import GROUPS_COMMANDS, Commit, ExpireMembers, Join, Leave
from services.log.results import Committed, Joined, Left, MembersExpired
from services.replicated.codec import FORMAT, pack, snapshot_version, unpack
from services.replicated.refusal import Refusal

GROUP = "log/groups"

GroupsResult = Joined | Left | MembersExpired | Committed | Refusal


@dataclass
class Member:
    client_id: str
    topics: list[str]
    timeout_ms: int
    assignment: dict[str, list[int]] = field(default_factory=dict)

    def to_map(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "topics": self.topics,
            "timeout_ms": self.timeout_ms,
            "assignment": self.assignment,
        }

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> Member:
        return cls.from_format0([m["client_id"], m["topics"], m["timeout_ms"], m["assignment"]])

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

    def to_map(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "assignor": self.assignor,
            "partitions": self.partitions,
            "members": {m: v.to_map() for m, v in self.members.items()},
            "offsets": [[t, p, o] for (t, p), o in self.offsets.items()],
        }

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> ConsumerGroup:
        members = {k: Member.from_map(v) for k, v in m["members"].items()}
        return cls._made(m["generation"], m["assignor"], m["partitions"], members, m["offsets"])

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
        self.generation += 1
        subscriptions = {m: member.topics for m, member in self.members.items()}
        for m, assigned in assign(self.assignor, subscriptions, self.partitions).items():
            self.members[m].assignment = assigned


class GroupsState:
    def __init__(self) -> None:
        self.groups: dict[str, ConsumerGroup] = {}
        self.joins = 0  # numbers new member ids

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> GroupsResult:
        cmd = GROUPS_COMMANDS.decode(command)
        if isinstance(cmd, Join):
            return self._join(cmd)
        if isinstance(cmd, Leave):
            return Left(bool(self._leave(cmd.group, [cmd.member_id])))
        if isinstance(cmd, ExpireMembers):
            return MembersExpired(tuple(self._leave(cmd.group, cmd.member_ids)))
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
        if cmd.fenced:
            if cmd.member_id not in group.members:
                return results.unknown_member(cmd.group, cmd.member_id)
            if cmd.generation != group.generation:
                return results.illegal_generation(cmd.generation, group.generation)
        for topic, partition, offset in cmd.offsets:
            group.offsets[(topic, partition)] = offset
        return Committed()
