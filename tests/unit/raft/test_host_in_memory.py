"""The production driver (RaftHost, RaftNode, ReadyHandler) and the KV state machine,
run entirely in memory: in-memory storage and transport, one event loop, no sockets."""

from __future__ import annotations

import asyncio
import errno

import pytest
from prometheus_client import REGISTRY

from services.kv.results import Written
from services.kv.state import KvState
from services.raft.host import RaftHost, UnknownGroup
from services.raft.node import RaftNode
from tests.unit.raft.in_memory import NODES, eventually, leader_of, put

IS_LEADER = "faultlab_raft_is_leader"


async def test_a_write_is_applied_on_all_three(hosts: dict[str, RaftHost]) -> None:
    for host in hosts.values():
        await host.add_group("kv", NODES, KvState())
    await eventually(lambda: leader_of(hosts, "kv"), "a kv leader")
    leader = leader_of(hosts, "kv")
    assert leader is not None
    result = await asyncio.wait_for(put(leader, "greeting", b"hello"), 5)
    assert isinstance(result, Written) and result.revision >= 1

    def applied_everywhere() -> bool:
        states = [h.group("kv").state_machine for h in hosts.values()]
        return all(isinstance(s, KvState) and s.get("greeting") is not None for s in states)

    await eventually(applied_everywhere, "the write applied on every node")
    for host in hosts.values():
        state = host.group("kv").state_machine
        assert isinstance(state, KvState)
        record = state.get("greeting")
        assert record is not None and record.value == b"hello"


async def test_groups_elect_independently_and_come_and_go(hosts: dict[str, RaftHost]) -> None:
    groups = ["kv", "log/orders/0", "log/orders/1"]
    for group in groups:
        for host in hosts.values():
            await host.add_group(group, NODES, KvState())
    for group in groups:
        await eventually(lambda g=group: leader_of(hosts, g), f"a leader of {group}")
    assert {s.group for s in hosts["n1"].status()} == set(groups)

    for host in hosts.values():
        await host.remove_group("log/orders/0")
    with pytest.raises(UnknownGroup):
        hosts["n1"].group("log/orders/0")
    # a removed group's series go with it (one that was led would say so for ever)
    assert REGISTRY.get_sample_value(IS_LEADER, {"group": "log/orders/0"}) is None
    assert REGISTRY.get_sample_value(IS_LEADER, {"group": "log/orders/1"}) is not None
    leader = leader_of(hosts, "log/orders/1")
    assert leader is not None
    await asyncio.wait_for(put(leader, "k", b"v"), 5)  # the others are unaffected


async def test_a_leader_hands_over_to_a_caught_up_follower(hosts: dict[str, RaftHost]) -> None:
    for host in hosts.values():
        await host.add_group("kv", NODES, KvState())
    await eventually(lambda: leader_of(hosts, "kv"), "a kv leader")
    old = leader_of(hosts, "kv")
    assert old is not None
    await asyncio.wait_for(put(old, "before", b"1"), 5)
    handed = await hosts[old.id].hand_over(timeout_s=2.0)
    new = handed["kv"]
    assert new is not None and new != old.id
    assert not old.is_leader()
    assert hosts[new].group("kv").is_leader()


async def kv_led_by_all(hosts: dict[str, RaftHost]) -> RaftNode:
    """The leader, once a "kv" group on every host has one."""
    for host in hosts.values():
        await host.add_group("kv", NODES, KvState())
    await eventually(lambda: leader_of(hosts, "kv"), "a kv leader")
    leader = leader_of(hosts, "kv")
    assert leader is not None
    return leader


async def test_a_failed_persist_stops_the_node_and_nothing_is_acknowledged(
    hosts: dict[str, RaftHost],
) -> None:
    leader = await kv_led_by_all(hosts)
    failures: list[tuple[str, OSError]] = []
    stopped = asyncio.Event()

    def record(group: str, error: OSError) -> None:  # in production: os._exit
        failures.append((group, error))
        stopped.set()

    def failing_persist(rd: object) -> None:
        raise OSError(errno.EIO, "fsync failed")

    leader.on_storage_failure = record
    leader._storage.persist = failing_persist  # type: ignore[method-assign]
    write = asyncio.create_task(put(leader, "k", b"v"))
    await asyncio.wait_for(stopped.wait(), 5)
    assert [(g, e.errno) for g, e in failures] == [("kv", errno.EIO)]
    assert not write.done()  # never acknowledged: the loop that would have is gone
    write.cancel()


class ApplyBug(RuntimeError):
    pass


async def test_a_driver_that_fails_stops_the_node_rather_than_leave_a_zombie_group(
    hosts: dict[str, RaftHost],
) -> None:
    """An error no code path expects (here a state machine that raises) stops the node
    (`stop_process_on_bug`), as etcd panics: before, the group's driver died alone and
    its node went on reporting the group's role, with nothing in any log."""
    leader = await kv_led_by_all(hosts)
    failures: list[tuple[str, Exception]] = []
    stopped = asyncio.Event()

    def record(group: str, error: Exception) -> None:  # in production: os._exit(70)
        failures.append((group, error))
        stopped.set()

    def failing_apply(index: int, command: bytes) -> object:
        raise ApplyBug("a state machine bug")

    leader.on_driver_failure = record
    leader.state_machine.apply = failing_apply  # type: ignore[method-assign]
    write = asyncio.create_task(put(leader, "k", b"v"))
    await asyncio.wait_for(stopped.wait(), 5)
    assert [(g, type(e)) for g, e in failures] == [("kv", ApplyBug)]
    write.cancel()
