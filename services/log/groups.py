"""The consumer-group coordinator's state machine (Kafka's group coordinator, whose state
lives in __consumer_offsets; here, the `log/groups` Raft group on every log node).

Membership changes are commands, so every replica agrees on each generation and its
assignment; liveness is not. Heartbeats go to the coordinator's leader and stay in its
memory (`coordinator.py`), which proposes `expire` for members past their session
timeout, as Kafka's coordinator does with its timers.

Commands (msgpack maps):
    {"op": "join", "group", "member_id" ("" = new), "client_id", "topics", "timeout_ms",
     "assignor", "partitions": {topic: count}}      -> {"member_id", "generation"}
    {"op": "leave", "group", "member_id"}           -> {"left": bool}
    {"op": "expire", "group", "member_ids"}         -> {"expired": [...]}
    {"op": "commit", "group", "member_id", "generation", "offsets": [[t, p, o]],
     "fenced": bool}  -> {} | {"error": "unknown_member"} | {"error": "illegal_generation",
                                                             "generation"}
`fenced` False is the unsafe mode: a commit is accepted whatever its generation, as
offsets written straight to ZooKeeper by Kafka 0.8's consumers were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from services.log import commands
from services.log.assignors import assign

GROUP = "log/groups"


@dataclass
class Member:
    client_id: str
    topics: list[str]
    timeout_ms: int
    assignment: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class ConsumerGroup:
    generation: int = 0
    assignor: int = 0
    members: dict[str, Member] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)  # as of the last rebalance
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

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

    def apply(self, index: int, command: bytes) -> dict[str, Any]:
        cmd = commands.decode(command)
        op = cmd["op"]
        if op == "join":
            return self._join(cmd)
        if op == "leave":
            return self._leave(cmd["group"], [cmd["member_id"]], "left")
        if op == "expire":
            return self._leave(cmd["group"], cmd["member_ids"], "expired")
        if op == "commit":
            return self._commit(cmd)
        raise AssertionError(f"unknown command {op!r}: a replica is out of date")

    def snapshot(self) -> bytes:
        state = {
            "joins": self.joins,
            "groups": {
                name: [
                    g.generation,
                    g.assignor,
                    g.partitions,
                    {
                        m: [v.client_id, v.topics, v.timeout_ms, v.assignment]
                        for m, v in g.members.items()
                    },
                    [[t, p, o] for (t, p), o in g.offsets.items()],
                ]
                for name, g in self.groups.items()
            },
        }
        out: bytes = msgpack.packb(state, use_bin_type=True)
        return out

    def restore(self, data: bytes) -> None:
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        self.joins = state["joins"]
        self.groups = {}
        for name, (generation, assignor, partitions, members, offsets) in state["groups"].items():
            self.groups[name] = ConsumerGroup(
                generation,
                assignor,
                {
                    m: Member(c, list(ts), t, {k: list(v) for k, v in a.items()})
                    for m, (c, ts, t, a) in members.items()
                },
                dict(partitions),
                {(t, p): o for t, p, o in offsets},
            )

    # -- commands ---------------------------------------------------------------------------

    def _join(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.setdefault(cmd["group"], ConsumerGroup())
        member_id = cmd["member_id"]
        if not member_id or member_id not in group.members:
            self.joins += 1
            member_id = f"{cmd['client_id']}-{self.joins}"
        group.members[member_id] = Member(cmd["client_id"], cmd["topics"], cmd["timeout_ms"])
        group.assignor = cmd["assignor"]
        group.partitions = dict(cmd["partitions"])
        group.rebalance()
        return {"member_id": member_id, "generation": group.generation}

    def _leave(self, name: str, member_ids: list[str], verb: str) -> dict[str, Any]:
        group = self.groups.get(name)
        gone = [m for m in member_ids if group is not None and m in group.members]
        if group is not None and gone:
            for m in gone:
                del group.members[m]
            group.rebalance()
        return {verb: gone if verb == "expired" else bool(gone)}

    def _commit(self, cmd: dict[str, Any]) -> dict[str, Any]:
        group = self.groups.setdefault(cmd["group"], ConsumerGroup())
        if cmd["fenced"]:
            if cmd["member_id"] not in group.members:
                return {"error": "unknown_member"}
            if cmd["generation"] != group.generation:
                return {"error": "illegal_generation", "generation": group.generation}
        for topic, partition, offset in cmd["offsets"]:
            group.offsets[(topic, partition)] = offset
        return {}
