"""A real three-node Docker Swarm on this machine (`make test-containers`): each swarm node
a container running its own Docker engine, the stack deployed on them, then what breaks
a multi-host deployment: a whole swarm node killed (the one hosting the KV leader), a node
drained, and a catalogue experiment on the swarm backend. Afterwards nothing of the
project is left on the engine, and no process of the swarm nodes lives on."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.backends import Swarm
from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import run_mode
from chaos.pytest_plugin import pid_alive
from cluster.client import KvClient
from cluster.engine import Engine
from cluster.swarm import SwarmCluster
from cluster.swarm_stack import SWARM_BASE_PORT
from cluster.waiting import wait_until
from services.runtime.topology import Group, Topology
from tests.containers.conftest import user_cli

ACKED_KEYS = 20


@pytest.fixture
def swarm(engine: Engine, swarm_images: dict[str, str], tmp_path: Path) -> Iterator[SwarmCluster]:
    topology = Topology.build("127.0.0.1", SWARM_BASE_PORT, (Group("kv", 3),))
    cluster = SwarmCluster(engine.client, topology, tmp_path, f"flswarm-{uuid.uuid4().hex[:8]}")
    pids: list[int] = []
    try:
        cluster.up(swarm_images)
        print(f"swarm up from built images: {cluster.up_s:.1f} s")
        pids = [cluster.host_container(h).attrs["State"]["Pid"] for h in cluster.hosts]
        yield cluster
    finally:
        cluster.down()
        left = cluster.leftovers()
        cluster.close()
        assert not left, f"swarm down left: {left}"
        assert not [p for p in pids if p and pid_alive(p)], "a swarm node's process lived on"


async def put_all(topology: Topology, keys: list[str]) -> None:
    async with KvClient.for_topology(topology, timeout_s=3.0) as kv:
        for key in keys:
            await kv.put(key, key.encode())


async def read_all(topology: Topology, keys: list[str]) -> dict[str, bytes]:
    async with KvClient.for_topology(topology, timeout_s=3.0) as kv:
        return {k: bytes((await kv.get(k)).kv.value) for k in keys}


def first_write_after(cluster: SwarmCluster, key: str, timeout_s: float) -> None:
    def written() -> bool:
        try:
            asyncio.run(put_all(cluster.topology, [key]))
        except Exception:  # any failure (no leader, no route yet) means not yet
            return False
        return True

    wait_until(written, timeout_s, f"a write ({key}) acknowledged", interval_s=0.1)


def test_a_swarm_node_killed_under_the_leader_and_a_node_drained(swarm: SwarmCluster) -> None:
    kv = [n.id for n in swarm.topology.nodes]
    placed = {node: swarm.host_of(node) for node in kv}
    assert sorted(placed.values()) == swarm.hosts, f"replicas not spread: {placed}"

    keys = [f"acked/{i}" for i in range(ACKED_KEYS)]
    asyncio.run(put_all(swarm.topology, keys))  # every one acknowledged

    # The swarm node hosting the KV leader, killed whole: its engine, the leader, and
    # Toxiproxy too when it ran there.
    leader = swarm.wait_for_leader()
    doomed = placed[leader]
    killed_at = time.monotonic()
    swarm.kill_host(doomed)
    swarm.refresh()  # Toxiproxy, rescheduled if it was on the dead node
    assert swarm.host_of("toxiproxy") != doomed
    survivors = [n for n in kv if n != leader]
    new_leader = swarm.wait_for_leader(among=survivors, not_=leader, timeout_s=60.0)
    first_write_after(swarm, "after-kill", 60.0)
    print(
        f"kill of {doomed} (leader {leader}) -> {new_leader} leads, first write after "
        f"{time.monotonic() - killed_at:.2f} s"
    )
    assert asyncio.run(read_all(swarm.topology, keys)) == {k: k.encode() for k in keys}
    wait_until(lambda: swarm.node_states()[doomed] == "down", 60.0, f"{doomed} marked down")
    # The pinned replica waits for its node instead of starting empty elsewhere.
    assert not swarm.is_running(leader)

    # The node comes back; its replica with it, from its own data.
    swarm.start_host(doomed)
    swarm.wait_serving(leader, timeout_s=120.0)
    wait_until(lambda: swarm.host_of_or_none(leader) == doomed, 60.0, f"{leader} on {doomed}")

    # Drain the node running Toxiproxy: the swarm moves it, the cluster follows.
    proxy_host = swarm.host_of("toxiproxy")
    swarm.drain_host(proxy_host)
    wait_until(
        lambda: swarm.host_of_or_none("toxiproxy") not in (None, proxy_host),
        120.0,
        "Toxiproxy rescheduled off the drained node",
    )
    swarm.refresh()
    first_write_after(swarm, "after-drain", 60.0)
    swarm.activate_host(proxy_host)
    assert asyncio.run(read_all(swarm.topology, [*keys, "after-kill"]))["after-kill"]


def test_an_experiment_behaves_as_hypothesized_on_the_swarm(
    engine: Engine, swarm_images: dict[str, str], tmp_path: Path
) -> None:
    """`disruptive-rejoin`, unsafe: pre-vote and CheckQuorum off on the nodes (the mode's
    environment in the stack), a node cut off through Toxiproxy and let back in."""
    exp = EXPERIMENTS["disruptive-rejoin"]
    result = run_mode(
        exp, exp.unsafe, 8.0, seed=7, folder=tmp_path, backend=Swarm(engine, swarm_images)
    )
    assert result.behaved, result.finding.summary
    assert result.faults, "the nemesis injected nothing"
    stack = (tmp_path / "cluster" / "stack.yml").read_text()
    assert all(k in stack for k in exp.unsafe.node_env)
    assert engine.client.containers.list(all=True, filters={"label": "io.faultlab.swarm"}) == []


# Above the suite's 240 s: `swarm up` forms a swarm of three engines (~75 s here), and
# freezing Toxiproxy's node waits for the managers to declare it down and reschedule it.
@pytest.mark.timeout(480)
def test_the_cli_path_swarm_up_status_kv_node_host_down(
    engine: Engine, swarm_images: dict[str, str], tmp_path: Path
) -> None:
    """What docs/beyond-one-machine.md tells a user: `faultlab swarm up`, the same CLI as
    with `faultlab up` (status, kv, node), a swarm node paused and resumed, and
    `faultlab down`, after which nothing of the swarm is left."""
    (tmp_path / "topology.toml").write_text("[groups.kv]\nnodes = 3\n")
    cli = user_cli(engine, tmp_path)

    cli("swarm", "render")
    assert "endpoint_mode: dnsrr" in (tmp_path / "stack.yml").read_text()
    try:
        cli("swarm", "up", "--no-pull")
        assert cli("status").count("serving") == 3
        cli("kv", "put", "greeting", "hello")
        assert "hello" in cli("kv", "get", "greeting")
        placed = cli("swarm", "status")
        assert all(f"swarm{i}" in placed for i in (1, 2, 3)) and "toxiproxy" in placed
        cli("node", "kill", "kv3")
        assert "stopped" in cli("status")
        cli("node", "start", "kv3")
        # Toxiproxy's node, aimed at: the CLI must find the cluster's way in again once
        # the swarm moves Toxiproxy off the frozen node, whichever node placement chose.
        toxiproxy_host = _host_running(placed, "toxiproxy")
        cli("swarm", "host", "pause", toxiproxy_host)
        cli("swarm", "host", "resume", toxiproxy_host)
        assert "hello" in cli("kv", "get", "greeting")
    finally:
        cli("down")
    labels = {"label": "io.faultlab.swarm"}
    assert not engine.client.containers.list(all=True, filters=labels)
    assert not engine.client.volumes.list(filters=labels)
    assert not engine.client.networks.list(filters=labels)


def _host_running(swarm_status: str, task: str) -> str:
    """The swarm node `faultlab swarm status` shows running `task` (a row of its table)."""
    for line in swarm_status.splitlines():
        host = re.search(r"swarm\d", line)
        if host and re.search(rf"\b{task}\b", line):
            return host.group()
    raise AssertionError(f"no swarm node runs {task}:\n{swarm_status}")
