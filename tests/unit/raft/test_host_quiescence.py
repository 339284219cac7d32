"""Quiescence in the production driver, on the in-memory network: many idle groups go
quiet and cost no ticks, a proposal wakes its group, and when a node falls silent the
hosts' node-level liveness wakes the groups it led, which elect new leaders."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from services.kv.state import KvState
from services.raft.host import RaftHost
from services.raft.liveness import PeerLiveness
from services.raft.transport import MemoryNetwork
from tests.unit.raft.in_memory import FAST, NODES, eventually, put, started_hosts

QUIET = dataclasses.replace(FAST, quiesce=True)
GROUPS = [f"log/t/{p}" for p in range(24)]


@pytest.fixture
async def quiet_hosts(network: MemoryNetwork) -> AsyncIterator[dict[str, RaftHost]]:
    async with started_hosts(network, QUIET) as out:
        for group in GROUPS:
            for host in out.values():
                await host.add_group(group, NODES, KvState())
        yield out


def leaders(hosts: dict[str, RaftHost], group: str, among: tuple[str, ...] = NODES) -> list[str]:
    return [n for n in among if hosts[n].group(group).is_leader()]


def all_quiet(hosts: dict[str, RaftHost], among: tuple[str, ...] = NODES) -> bool:
    return all(hosts[n].quiet_groups() == len(GROUPS) for n in among)


async def test_idle_groups_go_quiet_and_a_proposal_wakes_only_its_own(
    quiet_hosts: dict[str, RaftHost],
) -> None:
    hosts = quiet_hosts
    await eventually(lambda: all(len(leaders(hosts, g)) == 1 for g in GROUPS), "leaders")
    await eventually(lambda: all_quiet(hosts), "every group quiet on every node")
    group = GROUPS[3]
    leader = hosts[leaders(hosts, group)[0]].group(group)
    await asyncio.wait_for(put(leader, "k", b"v"), 5)

    def applied_everywhere() -> bool:
        states = [h.group(group).state_machine for h in hosts.values()]
        return all(isinstance(s, KvState) and s.get("k") is not None for s in states)

    await eventually(applied_everywhere, "the write applied on every node")
    await eventually(lambda: all_quiet(hosts), "quiet again")


async def test_a_silent_node_is_noticed_and_its_quiet_groups_get_new_leaders(
    quiet_hosts: dict[str, RaftHost], network: MemoryNetwork
) -> None:
    hosts = quiet_hosts
    await eventually(lambda: all(len(leaders(hosts, g)) == 1 for g in GROUPS), "leaders")
    await eventually(lambda: all_quiet(hosts), "every group quiet on every node")
    victim = "n1"
    led = [g for g in GROUPS if leaders(hosts, g) == [victim]]
    assert led, "the victim should lead some groups"
    network.isolate(victim)
    rest = ("n2", "n3")
    await eventually(
        lambda: all(len(leaders(hosts, g, rest)) == 1 for g in led), "new leaders for its groups"
    )
    for group in led:
        leader = hosts[leaders(hosts, group, rest)[0]].group(group)
        await asyncio.wait_for(put(leader, "after", b"1"), 5)
    await eventually(lambda: all_quiet(hosts, rest), "quiet again without it")


def test_a_peer_is_down_after_a_timeout_of_silence_and_up_when_heard() -> None:
    liveness = PeerLiveness(["b", "c"], timeout_ticks=3)
    assert liveness.tick() == [] and liveness.tick() == []
    liveness.heard("b")
    assert liveness.tick() == ["c"]  # c: three silent ticks; b heard one tick ago
    assert liveness.tick() == [] and liveness.down == {"c"}
    assert liveness.heard("c") is True  # back
    assert liveness.heard("c") is False and liveness.down == set()
    assert liveness.heard("stranger") is False  # not a peer: ignored
