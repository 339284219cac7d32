"""`ReplicatedGroup` turns every way a proposal or a read can end into the error tree,
shown on the production driver in memory: a follower, a leader cut off from its quorum
(deadline, then overwritten by the new majority), and a node stopping mid-proposal."""

from __future__ import annotations

import asyncio

import pytest

from services.kv import commands
from services.kv.commands import Put
from services.kv.state import KvState
from services.raft.host import RaftHost
from services.raft.transport import MemoryNetwork
from services.replicated import ReplicatedGroup
from services.runtime import errors
from tests.unit.raft.in_memory import NODES, eventually

PUT = commands.encode(Put("k", b"v"))


class Deadline:
    """The one thing ReplicatedGroup asks of a grpc.aio.ServicerContext."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time_remaining(self) -> float:
        return self.seconds


def group(hosts: dict[str, RaftHost], node: str) -> ReplicatedGroup[KvState]:
    raft = hosts[node].group("kv")
    state = raft.state_machine
    assert isinstance(state, KvState)
    return ReplicatedGroup(raft, state, lambda n: f"client-address-of-{n}")


async def started(hosts: dict[str, RaftHost]) -> str:
    """Host the kv group everywhere; returns its leader once one is elected."""
    for host in hosts.values():
        await host.add_group("kv", NODES, KvState())

    def leader() -> str | None:
        leaders = [n for n, h in hosts.items() if h.group("kv").is_leader()]
        return leaders[0] if len(leaders) == 1 else None

    await eventually(leader, "a kv leader")
    found = leader()
    assert found is not None
    return found


async def new_leader_among(hosts: dict[str, RaftHost], ids: list[str]) -> str:
    def leader() -> str | None:
        return next((n for n in ids if hosts[n].group("kv").is_leader()), None)

    await eventually(leader, f"a leader among {ids}")
    found = leader()
    assert found is not None
    return found


async def test_a_follower_names_the_leader_and_its_address(hosts: dict[str, RaftHost]) -> None:
    leader = await started(hosts)
    follower = next(n for n in NODES if n != leader)
    await eventually(lambda: hosts[follower].group("kv").leader == leader, "the hint")
    with pytest.raises(errors.NotLeader) as e:
        await group(hosts, follower).propose(PUT, Deadline(1.0))  # type: ignore[arg-type]
    assert e.value.definite
    assert e.value.details == {"leader_id": leader, "leader_address": f"client-address-of-{leader}"}
    with pytest.raises(errors.NotLeader):
        group(hosts, follower).lease_read()


async def test_a_cut_off_leader_times_out_then_loses_its_entry(
    hosts: dict[str, RaftHost], network: MemoryNetwork
) -> None:
    old = await started(hosts)
    network.isolate(old)
    cut_off = group(hosts, old)
    # All three asked at once: CheckQuorum deposes the cut-off leader no sooner than one
    # election timeout (50 ms here), so the 20 ms ones meet a leader without a quorum.
    doomed = asyncio.ensure_future(cut_off.propose(PUT, Deadline(10.0)))  # type: ignore[arg-type]
    write = asyncio.ensure_future(cut_off.propose(PUT, Deadline(0.02)))  # type: ignore[arg-type]
    read = asyncio.ensure_future(cut_off.linearizable_read(Deadline(0.02)))  # type: ignore[arg-type]
    with pytest.raises(errors.OutcomeUnknown) as unknown:
        await write
    assert not unknown.value.definite
    with pytest.raises(errors.NoQuorum) as no_quorum:
        await read
    assert no_quorum.value.definite

    majority = [n for n in NODES if n != old]
    new = await new_leader_among(hosts, majority)
    for _ in range(3):  # past every index the old leader appended
        await group(hosts, new).propose(PUT, Deadline(5.0))  # type: ignore[arg-type]
    network.heal()
    with pytest.raises(errors.NotApplied) as not_applied:
        await doomed
    assert not_applied.value.definite


async def test_a_node_stopping_mid_proposal_leaves_the_outcome_unknown(
    hosts: dict[str, RaftHost], network: MemoryNetwork
) -> None:
    leader = await started(hosts)
    core = hosts[leader].group("kv").core
    assert core is not None
    before = core.log.last_index
    network.isolate(leader)  # the entry is appended but cannot commit
    pending = asyncio.ensure_future(group(hosts, leader).propose(PUT, Deadline(10.0)))  # type: ignore[arg-type]
    await eventually(lambda: core.log.last_index > before, "the append")
    await hosts[leader].remove_group("kv")
    with pytest.raises(errors.OutcomeUnknown) as e:
        await pending
    assert not e.value.definite


async def test_a_follower_catches_up_through_the_leader_or_says_no_quorum(
    hosts: dict[str, RaftHost], network: MemoryNetwork
) -> None:
    leader = await started(hosts)
    follower = next(n for n in NODES if n != leader)
    await eventually(lambda: hosts[follower].group("kv").leader == leader, "the hint")
    await group(hosts, leader).propose(PUT, Deadline(5.0))  # type: ignore[arg-type]
    await group(hosts, follower).caught_up(Deadline(5.0))  # type: ignore[arg-type]
    state = hosts[follower].group("kv").state_machine
    assert isinstance(state, KvState) and state.get("k") is not None

    network.isolate(follower)  # its read index request never reaches the leader
    with pytest.raises(errors.NoQuorum) as e:
        await group(hosts, follower).caught_up(Deadline(0.05))  # type: ignore[arg-type]
    assert e.value.definite
