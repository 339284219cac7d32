"""Kafka's classic consumer-group protocol on the coordinator group `log/groups`.

Every group's coordinator is that Raft group's leader. What must survive it is
replicated (groups.py: each generation's members and protocol, the leader member's
assignment, offsets); the join phase is the leader's memory, as it is a Kafka
coordinator's: which members have asked to join the next generation, waiting for the
rest (every current member, and every new member given an id with MEMBER_ID_REQUIRED)
until the rebalance timeout, after group.initial.rebalance.delay.ms for an empty group.
The phase ends with one `ClassicJoined` command; every waiting JoinGroup is then
answered, the leader member with every member's metadata. The leader's SyncGroup is
`ClassicAssigned`; every member's SyncGroup waits for it. A new coordinator knows no
join phase: members' JoinGroups fail with NOT_COORDINATOR and are sent again to it.

Heartbeats stay in memory (coordinator.py) as before; a member waiting in a join phase
counts as alive. A member that leaves or is expired puts the group in "preparing": the
others' heartbeats answer REBALANCE_IN_PROGRESS and they rejoin.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode

from services.log.commands import GROUPS_COMMANDS, ClassicAssigned, ClassicJoined, Commit, Leave
from services.log.groups import COMPLETING, EMPTY, PREPARING, STABLE, ConsumerGroup
from services.log.kafka.codes import group_code
from services.log.kafka.door import Door
from services.log.kafka.wire import CLIENT, Deadline
from services.log.results import ClassicGeneration, Committed, Left
from services.replicated.refusal import answered
from services.runtime import errors, logs

log = logging.getLogger("faultlab.log.kafka")

NO_THROTTLE = datetime.timedelta(0)
CHECK_S = 0.05  # how often join phases are looked at
PROPOSE_S = 5.0
DEFAULT_REBALANCE_MS = 300_000  # JoinGroup v0 has no rebalance timeout
KAFKA_STATES = {
    EMPTY: "Empty",
    PREPARING: "PreparingRebalance",
    COMPLETING: "CompletingRebalance",
    STABLE: "Stable",
}

Answer = dict[str, Any]


@dataclass
class PendingJoin:
    client_id: str
    host: str
    session_ms: int
    rebalance_ms: int
    protocol_type: str
    protocols: list[list[Any]]  # [[name, metadata], ...] in the member's preference
    answer: asyncio.Future[Answer]


@dataclass
class JoinPhase:
    started_s: float
    delay_until_s: float
    joins: dict[str, PendingJoin] = field(default_factory=dict)  # in the order they came
    closing: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class ClassicGroups:
    def __init__(self, door: Door) -> None:
        self._door = door
        self._coordinator = door.log.coordinator
        self._group = self._coordinator.group
        self._state = self._coordinator.state
        self._phases: dict[str, JoinPhase] = {}
        # member ids handed out with MEMBER_ID_REQUIRED: (group, member) -> expiry
        self._new_members: dict[tuple[str, str], float] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._state.listeners.add(self._applied)

    # -- the join phase ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            if not self._group.is_leader():
                self._drop_phases(ErrorCode.not_coordinator)
                continue
            now_s = time.monotonic()
            for key, expiry_s in list(self._new_members.items()):
                if now_s > expiry_s:
                    del self._new_members[key]
            for name, group in list(self._state.groups.items()):
                if group.phase == PREPARING and name not in self._phases:
                    self._phase(name)  # a member left or expired: the rest rejoin
            for name, phase in list(self._phases.items()):
                for member_id in phase.joins:  # waiting to join: alive
                    self._coordinator.heard_from(name, member_id)
                self._maybe_close(name, phase, now_s)

    def _phase(self, name: str) -> JoinPhase:
        phase = self._phases.get(name)
        if phase is None:
            now_s = time.monotonic()
            group = self._state.groups.get(name)
            empty = group is None or not group.members
            delay_s = self._door.config.initial_rebalance_delay_ms / 1000 if empty else 0.0
            phase = self._phases[name] = JoinPhase(now_s, now_s + delay_s)
        return phase

    def _expected(self, name: str) -> set[str]:
        group = self._state.groups.get(name)
        known = set(group.members) if group is not None else set()
        return known | {m for g, m in self._new_members if g == name}

    def _maybe_close(self, name: str, phase: JoinPhase, now_s: float) -> None:
        if phase.closing:
            return
        group = self._state.groups.get(name)
        timeouts = [j.rebalance_ms for j in phase.joins.values()]
        if group is not None:
            timeouts += [m.rebalance_ms for m in group.members.values()]
        deadline_s = phase.started_s + max(timeouts, default=DEFAULT_REBALANCE_MS) / 1000
        everyone = bool(phase.joins) and self._expected(name) <= set(phase.joins)
        if now_s >= deadline_s or (everyone and now_s >= phase.delay_until_s):
            phase.closing = True
            task = asyncio.create_task(self._close(name, phase))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, name: str, phase: JoinPhase) -> None:
        """End the join phase: one command names the generation, its members and leader."""
        group = self._state.groups.get(name) or ConsumerGroup()
        joins = phase.joins
        protocol = _choose_protocol(list(joins.values()))
        leader = group.leader if group.leader in joins else next(iter(joins), "")
        generation = group.generation + 1
        protocol_type = next((j.protocol_type for j in joins.values()), "")
        members = [
            [m, j.client_id, j.host, j.session_ms, j.rebalance_ms, j.protocols]
            for m, j in joins.items()
        ]
        cmd = ClassicJoined(name, generation, protocol_type, protocol, leader, members)
        try:
            applied = await self._group.propose_within(GROUPS_COMMANDS.encode(cmd), PROPOSE_S)
            answered(applied, ClassicGeneration)
        except errors.ServiceError as e:
            logs.event(log, "kafka_join_phase_failed", group=name, error=str(e))
            code = group_code(e)
            self._end_phase(name, phase, lambda m: _join_error(code, m))
            return
        for m in joins:
            self._new_members.pop((name, m), None)
        everyone = [
            {"member_id": m, "group_instance_id": None, "metadata": _metadata(j, protocol)}
            for m, j in joins.items()
        ]
        logs.event(
            log,
            "kafka_generation",
            group=name,
            generation=generation,
            members=list(joins),
            leader=leader,
        )
        self._end_phase(
            name,
            phase,
            lambda m: {
                "throttle_time": NO_THROTTLE,
                "error_code": ErrorCode.none,
                "generation_id": generation,
                "protocol_type": protocol_type,
                "protocol_name": protocol,
                "leader": leader,
                "member_id": m,
                "members": everyone if m == leader else [],
            },
        )

    def _end_phase(self, name: str, phase: JoinPhase, answer_for: Any) -> None:
        if self._phases.get(name) is phase:
            del self._phases[name]
        phase.ended.set()
        for member_id, join in phase.joins.items():
            if not join.answer.done():
                join.answer.set_result(answer_for(member_id))

    def _drop_phases(self, code: ErrorCode) -> None:
        for name, phase in list(self._phases.items()):
            if not phase.closing:
                self._end_phase(name, phase, lambda m: _join_error(code, m))
        self._new_members.clear()

    # -- state changes -------------------------------------------------------------------

    def _applied(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _next_change(self, timeout_s: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    def _leading(self) -> ErrorCode:
        """NONE on the coordinator's leader; NOT_COORDINATOR elsewhere."""
        try:
            self._group.lease_read()
        except errors.ServiceError:
            return ErrorCode.not_coordinator
        return ErrorCode.none

    def _rebalancing(self, name: str, group: ConsumerGroup) -> bool:
        return name in self._phases or group.phase == PREPARING

    # -- requests ----------------------------------------------------------------------

    async def join_group(self, request: Any, version: int) -> Answer:
        member_id = request.member_id
        code = self._leading()
        if code != ErrorCode.none:
            return _join_error(code, member_id)
        name = request.group_id
        closing = self._phases.get(name)
        if closing is not None and closing.closing:
            # Too late for the generation being proposed: a Kafka coordinator never
            # answers a JoinGroup with REBALANCE_IN_PROGRESS (clients treat it as fatal),
            # so the join waits for that proposal (bounded by PROPOSE_S) and goes to the
            # next phase.
            await closing.ended.wait()
            return await self.join_group(request, version)
        config = self._door.config
        session_ms = int(request.session_timeout.total_seconds() * 1000)
        rebalance = getattr(request, "rebalance_timeout", None)
        rebalance_ms = (
            int(rebalance.total_seconds() * 1000) if rebalance is not None else session_ms
        )
        if not name:
            return _join_error(ErrorCode.invalid_group_id, member_id)
        if not config.min_session_timeout_ms <= session_ms <= config.max_session_timeout_ms:
            return _join_error(ErrorCode.invalid_session_timeout, member_id)
        protocols = [[p.name, p.metadata] for p in request.protocols]
        group = self._state.groups.get(name)
        if (
            not request.protocol_type
            or not protocols
            or not _fits(group, member_id, request.protocol_type, protocols)
        ):
            return _join_error(ErrorCode.inconsistent_group_protocol, member_id)
        now_s = time.monotonic()
        if not member_id:
            member_id = f"{CLIENT.get()[0]}-{uuid.uuid4()}"
            self._new_members[(name, member_id)] = now_s + session_ms / 1000
            if version >= 4:  # KIP-394: the client joins again with its id
                return _join_error(ErrorCode.member_id_required, member_id)
        elif (group is None or member_id not in group.members) and (
            name,
            member_id,
        ) not in self._new_members:
            return _join_error(ErrorCode.unknown_member_id, member_id)
        phase = self._phase(name)
        earlier = phase.joins.pop(member_id, None)
        if earlier is not None and not earlier.answer.done():
            earlier.answer.set_result(_join_error(ErrorCode.rebalance_in_progress, member_id))
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        client_id, host = CLIENT.get()
        phase.joins[member_id] = PendingJoin(
            client_id, host, session_ms, rebalance_ms, request.protocol_type, protocols, answer
        )
        self._coordinator.heard_from(name, member_id)
        self._maybe_close(name, phase, now_s)
        return await asyncio.shield(answer)

    async def sync_group(self, request: Any, version: int) -> Answer:
        def answer(
            code: ErrorCode, assignment: bytes = b"", group: ConsumerGroup | None = None
        ) -> Answer:
            return {
                "throttle_time": NO_THROTTLE,
                "error_code": code,
                "protocol_type": group.protocol_type if group else None,
                "protocol_name": group.protocol if group else None,
                "assignment": assignment,
            }

        code = self._leading()
        if code != ErrorCode.none:
            return answer(code)
        name, member_id, generation = request.group_id, request.member_id, request.generation_id
        group = self._state.groups.get(name)
        if group is None or member_id not in group.members:
            return answer(ErrorCode.unknown_member_id)
        if generation != group.generation:
            return answer(ErrorCode.illegal_generation)
        if self._rebalancing(name, group):
            return answer(ErrorCode.rebalance_in_progress)
        self._coordinator.heard_from(name, member_id)
        if group.phase == COMPLETING and member_id == group.leader:
            assignments = {a.member_id: a.assignment for a in request.assignments}
            cmd = ClassicAssigned(name, generation, assignments)
            try:
                applied = await self._group.propose_within(GROUPS_COMMANDS.encode(cmd), PROPOSE_S)
                answered(applied, ClassicGeneration)
            except errors.ServiceError as e:
                return answer(group_code(e))
        deadline = Deadline(group.members[member_id].timeout_ms / 1000)
        while True:
            group = self._state.groups.get(name)
            if group is None or member_id not in group.members:
                return answer(ErrorCode.unknown_member_id)
            if group.generation != generation or self._rebalancing(name, group):
                return answer(ErrorCode.rebalance_in_progress)
            if group.phase == STABLE:
                return answer(ErrorCode.none, group.members[member_id].classic_assignment, group)
            if self._leading() != ErrorCode.none:
                return answer(ErrorCode.not_coordinator)
            if deadline.time_remaining() <= 0:
                return answer(ErrorCode.rebalance_in_progress)
            self._coordinator.heard_from(name, member_id)
            await self._next_change(min(deadline.time_remaining(), 1.0))

    async def heartbeat(self, request: Any, version: int) -> Answer:
        return {"throttle_time": NO_THROTTLE, "error_code": self._heartbeat(request)}

    def _heartbeat(self, request: Any) -> ErrorCode:
        code = self._leading()
        if code != ErrorCode.none:
            return code
        name, member_id = request.group_id, request.member_id
        group = self._state.groups.get(name)
        if group is None or member_id not in group.members:
            if (name, member_id) in self._new_members:
                return ErrorCode.rebalance_in_progress
            return ErrorCode.unknown_member_id
        if request.generation_id != group.generation:
            return ErrorCode.illegal_generation
        self._coordinator.heard_from(name, member_id)
        if self._rebalancing(name, group):
            return ErrorCode.rebalance_in_progress
        return ErrorCode.none

    async def leave_group(self, request: Any, version: int) -> Answer:
        ids = [m.member_id for m in request.members] if version >= 3 else [request.member_id]
        code = self._leading()
        results = []
        for member_id in ids:
            results.append(
                code if code != ErrorCode.none else await self._leave(request.group_id, member_id)
            )
        top = results[0] if version < 3 else code
        return {
            "throttle_time": NO_THROTTLE,
            "error_code": top,
            "members": [
                {"member_id": m, "group_instance_id": None, "error_code": c}
                for m, c in zip(ids, results, strict=True)
            ],
        }

    async def _leave(self, name: str, member_id: str) -> ErrorCode:
        phase = self._phases.get(name)
        pending = phase.joins.pop(member_id, None) if phase is not None else None
        if pending is not None and not pending.answer.done():
            pending.answer.set_result(_join_error(ErrorCode.unknown_member_id, member_id))
        if self._new_members.pop((name, member_id), None) is not None:
            return ErrorCode.none
        try:
            left = answered(
                await self._group.propose_within(
                    GROUPS_COMMANDS.encode(Leave(name, member_id)), PROPOSE_S
                ),
                Left,
            )
        except errors.ServiceError as e:
            return group_code(e)
        return ErrorCode.none if left.left or pending is not None else ErrorCode.unknown_member_id

    async def offset_commit(self, request: Any, version: int) -> Answer:
        code = self._leading()
        offsets = [
            [t.name, p.partition_index, p.committed_offset]
            for t in request.topics
            for p in t.partitions
        ]
        if code == ErrorCode.none:
            cmd = Commit(
                request.group_id,
                request.member_id,
                request.generation_id_or_member_epoch,
                offsets,
                self._door.log.fence_commits,
                classic=True,
            )
            try:
                answered(
                    await self._group.propose_within(GROUPS_COMMANDS.encode(cmd), PROPOSE_S),
                    Committed,
                )
                self._coordinator.heard_from(request.group_id, request.member_id)
            except errors.ServiceError as e:
                code = group_code(e)
        return {
            "throttle_time": NO_THROTTLE,
            "topics": [
                {
                    "name": t.name,
                    "partitions": [
                        {"partition_index": p.partition_index, "error_code": code}
                        for p in t.partitions
                    ],
                }
                for t in request.topics
            ],
        }

    async def offset_fetch(self, request: Any, version: int) -> Answer:
        code = self._leading()
        if code == ErrorCode.none:
            try:
                await self._group.linearizable_read(Deadline(PROPOSE_S))
            except errors.ServiceError as e:
                code = group_code(e)
        group = self._state.groups.get(request.group_id)
        committed = group.offsets if group is not None and code == ErrorCode.none else {}
        if request.topics is None:
            wanted: dict[str, list[int]] = {}
            for topic, partition in sorted(committed):
                wanted.setdefault(topic, []).append(partition)
        else:
            wanted = {t.name: list(t.partition_indexes) for t in request.topics}
        partition_code = ErrorCode.none if version >= 2 else code
        return {
            "throttle_time": NO_THROTTLE,
            "error_code": code,
            "topics": [
                {
                    "name": topic,
                    "partitions": [
                        {
                            "partition_index": p,
                            "committed_offset": committed.get((topic, p), -1),
                            "committed_leader_epoch": -1,
                            "metadata": "",
                            "error_code": partition_code,
                        }
                        for p in partitions
                    ],
                }
                for topic, partitions in wanted.items()
            ],
        }

    async def describe_groups(self, request: Any, version: int) -> Answer:
        code = self._leading()
        described = []
        for name in request.groups:
            group = self._state.groups.get(name)
            if code != ErrorCode.none or group is None:
                described.append(
                    {
                        "error_code": code,
                        "group_id": name,
                        "group_state": "Dead",
                        "protocol_type": "",
                        "protocol_data": "",
                        "members": [],
                        "authorized_operations": -2147483648,
                    }
                )
                continue
            state = (
                KAFKA_STATES[group.phase]
                if group.classic
                else ("Stable" if group.members else "Empty")
            )
            if group.classic and name in self._phases:
                state = "PreparingRebalance"
            described.append(
                {
                    "error_code": ErrorCode.none,
                    "group_id": name,
                    "group_state": state,
                    "protocol_type": group.protocol_type,
                    "protocol_data": group.protocol,
                    "members": [
                        {
                            "member_id": m,
                            "group_instance_id": None,
                            "client_id": member.client_id,
                            "client_host": member.host,
                            "member_metadata": member.metadata(group.protocol),
                            "member_assignment": member.classic_assignment,
                        }
                        for m, member in group.members.items()
                    ],
                    "authorized_operations": -2147483648,
                }
            )
        return {"throttle_time": NO_THROTTLE, "groups": described}

    async def list_groups(self, request: Any, version: int) -> Answer:
        code = self._leading()
        wanted = set(getattr(request, "states_filter", ()) or ())
        listed = []
        if code == ErrorCode.none:
            for name, group in sorted(self._state.groups.items()):
                state = (
                    KAFKA_STATES[group.phase]
                    if group.classic
                    else ("Stable" if group.members else "Empty")
                )
                if not wanted or state in wanted:
                    listed.append(
                        {
                            "group_id": name,
                            "protocol_type": group.protocol_type,
                            "group_state": state,
                        }
                    )
        return {"throttle_time": NO_THROTTLE, "error_code": code, "groups": listed}


def _join_error(code: ErrorCode, member_id: str) -> Answer:
    return {
        "throttle_time": NO_THROTTLE,
        "error_code": code,
        "generation_id": -1,
        "protocol_type": None,
        "protocol_name": None,
        "leader": "",
        "member_id": member_id,
        "members": [],
    }


def _fits(
    group: ConsumerGroup | None, member_id: str, protocol_type: str, protocols: list[list[Any]]
) -> bool:
    """Whether a member with these protocols may join: Kafka's INCONSISTENT_GROUP_PROTOCOL
    otherwise (another protocol type, or no protocol every member speaks)."""
    if group is None or not group.members:
        return True
    if not group.classic or group.protocol_type != protocol_type:
        return False
    names = {p[0] for p in protocols}
    for other_id, other in group.members.items():
        if other_id != member_id:
            names &= {p[0] for p in other.protocols}
    return bool(names)


def _choose_protocol(joins: list[PendingJoin]) -> str:
    """Kafka's choice: of the protocols every member speaks, the one most members list
    first among those (ties to the first member's preference)."""
    if not joins:
        return ""
    names: list[list[str]] = [[str(p[0]) for p in j.protocols] for j in joins]
    common = set.intersection(*(set(n) for n in names))
    votes = Counter(next(n for n in member if n in common) for member in names)
    first = [n for n in names[0] if n in common]
    return max(first, key=lambda name: (votes[name], -first.index(name)))


def _metadata(join: PendingJoin, protocol: str) -> bytes:
    return next((bytes(meta) for name, meta in join.protocols if name == protocol), b"")
