"""The compose path for real (`make test-containers`): a Docker engine (the reachable one,
or one of our own with its own socket and data), the images built without a registry,
`docker compose up --wait`, then what a user does: put and read through the published
client port, partition the leader through the Toxiproxy container's API, kill a container
with the Docker SDK, and `docker compose down -v`, after which nothing of the project is
left on the engine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2, kv_pb2_grpc

from chaos.backends import Compose
from chaos.experiments import EXPERIMENTS
from chaos.experiments.base import run_mode
from chaos.net import Network
from cluster.client import KvClient
from cluster.compose import render_compose, render_toxiproxy
from cluster.containers import ComposeCluster, compose_binary
from cluster.engine import Engine
from cluster.launcher import REPO_ROOT
from cluster.ports import free_port_block
from services.runtime.topology import Group, Topology
from tests.containers.conftest import user_cli
from tests.integration.kafka import kcat_path


@pytest.fixture
def cluster(engine: Engine, images: dict[str, str], tmp_path: Path) -> Iterator[ComposeCluster]:
    """A KV cluster from its own compose file, on free ports, in a project of its own."""
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    topology = topology.with_base_port(free_port_block(topology.port_span(), topology.host))
    (tmp_path / "docker-compose.yml").write_text(render_compose(topology, str(REPO_ROOT)))
    (tmp_path / "toxiproxy.json").write_text(render_toxiproxy(topology))
    (tmp_path / "topology.toml").write_text(topology.to_toml())
    c = ComposeCluster(topology, tmp_path, f"fltest-{uuid.uuid4().hex[:8]}", engine.env)
    try:
        started = time.monotonic()
        c.up(images)
        print(f"compose up --wait: {time.monotonic() - started:.1f} s")
        yield c
    finally:
        c.down()
        left = c.leftovers()
        c.close()
        assert not left, f"compose down -v left: {left}"


async def put_and_read(topology: Topology, key: str) -> bytes:
    async with KvClient.for_topology(topology, timeout_s=3.0) as kv:
        await kv.put(key, key.encode())
        return bytes((await kv.get(key)).kv.value)


def test_compose_up_partition_kill_and_down(cluster: ComposeCluster) -> None:
    topology = cluster.topology
    kv = [n.id for n in topology.nodes]
    assert asyncio.run(put_and_read(topology, "greeting")) == b"greeting"

    # A partition through the Toxiproxy container's API: the other two elect a leader.
    leader = cluster.wait_for_leader()
    assert cluster.toxiproxy is not None
    net = Network(cluster.toxiproxy, topology)
    net.isolate(leader)
    others = [n for n in kv if n != leader]
    second = cluster.wait_for_leader(among=others, not_=leader, timeout_s=20.0)
    net.heal()
    assert asyncio.run(put_and_read(topology, "after-partition")) == b"after-partition"

    # SIGKILL a container through the Docker SDK: failover, and it comes back.
    cluster.kill(second)
    assert not cluster.is_running(second)
    survivors = [n for n in kv if n != second]
    cluster.wait_for_leader(among=survivors, not_=second, timeout_s=20.0)
    assert asyncio.run(put_and_read(topology, "after-kill")) == b"after-kill"
    cluster.start_node(second)

    # pause / resume (the cgroup freezer) and a graceful stop, behind the same interface.
    cluster.pause(second)
    cluster.resume(second)
    assert cluster.stop(second) == 0
    cluster.start_node(second)
    assert asyncio.run(put_and_read(topology, "at-the-end")) == b"at-the-end"


def test_an_experiment_runs_on_containers_with_its_modes_node_settings(
    engine: Engine, images: dict[str, str], tmp_path: Path
) -> None:
    """`faultlab chaos run disruptive-rejoin --backend compose`, unsafe mode: pre-vote and
    CheckQuorum off on the nodes (a compose override), a node cut off and let back in."""
    exp = EXPERIMENTS["disruptive-rejoin"]
    result = run_mode(
        exp, exp.unsafe, 8.0, seed=7, folder=tmp_path, backend=Compose(engine, images)
    )
    assert result.behaved, result.finding.summary
    assert result.faults, "the nemesis injected nothing"
    override = (tmp_path / "cluster" / "docker-compose.override.yml").read_text()
    assert all(
        f"{k}: '{v}'" in override or f"{k}: {v}" in override for k, v in exp.unsafe.node_env.items()
    )


def kv_folder_cli(engine: Engine, folder: Path) -> Callable[..., str]:
    """A folder with a 3-node KV topology on free ports, and the CLI run in it as a user
    would (its own FAULTLAB_HOME), failing the test on a non-zero exit."""
    base = free_port_block(Topology.build("127.0.0.1", 0, (Group("kv", 3),)).port_span())
    (folder / "topology.toml").write_text(
        f"[cluster]\nbase_port = {base}\n[groups.kv]\nnodes = 3\n"
    )
    return user_cli(engine, folder, timeout_s=300)


def test_the_cli_path_compose_up_status_kv_down(
    engine: Engine, images: dict[str, str], tmp_path: Path
) -> None:
    """What the README tells a user: render, `faultlab compose up`, the same CLI as with
    `faultlab up`, `faultlab down` (volumes too)."""
    cli = kv_folder_cli(engine, tmp_path)
    cli("compose", "render")
    try:
        cli("compose", "up", "--no-pull")
        assert cli("status").count("serving") == 3
        cli("kv", "put", "greeting", "hello")
        assert "hello" in cli("kv", "get", "greeting")
    finally:
        cli("down")
    labels = {"label": "com.docker.compose.project=faultlab"}
    assert not engine.client.containers.list(all=True, filters=labels)
    assert not engine.client.volumes.list(filters=labels)


def test_the_cli_finds_a_cluster_started_by_a_plain_docker_compose_up(
    engine: Engine, images: dict[str, str], tmp_path: Path
) -> None:
    """No `faultlab up` and no state file: `docker compose up -d --wait` in a folder with
    the topology and the compose file rendered from it, as in the repository. Every
    command then finds that project, says so, and works: status, kv (direct and through
    the gateway), lock, log, net, node, and down; kcat reaches the log node's Kafka port
    through its Toxiproxy link."""
    groups = (Group("kv", 3), Group("lock", 1), Group("log", 1), Group("gateway", 1))
    topology = Topology.build("127.0.0.1", 0, groups)
    topology = topology.with_base_port(free_port_block(topology.port_span(), topology.host))
    (tmp_path / "topology.toml").write_text(topology.to_toml())
    (tmp_path / "docker-compose.yml").write_text(render_compose(topology, str(REPO_ROOT)))
    (tmp_path / "toxiproxy.json").write_text(render_toxiproxy(topology))
    project = f"fldisc-{uuid.uuid4().hex[:8]}"
    compose_env = {**engine.env, **images, "COMPOSE_PROJECT_NAME": project}
    env = {**engine.env, "FAULTLAB_HOME": str(tmp_path / "home"), "COLUMNS": "200"}

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "cluster", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    plain = ComposeCluster(topology, tmp_path, project, engine.env)
    try:
        subprocess.run(
            [compose_binary(), "up", "-d", "--wait", "--no-build"],
            cwd=tmp_path,
            env=compose_env,
            check=True,
            capture_output=True,
        )
        status = cli("status")
        assert f"talking to compose project {project!r}" in status.stderr
        assert status.stdout.count("serving") == len(topology.nodes)
        assert "OK revision=" in cli("kv", "put", "greeting", "hello").stdout
        assert cli("kv", "--via-gateway", "get", "greeting").stdout.strip() == "hello"
        assert "session" in cli("lock", "sessions").stdout.lower()
        assert (
            "created orders"
            in cli(
                "log", "topic", "create", "orders", "--partitions", "1", "--replication", "1"
            ).stdout
        )
        kafka = ",".join(topology.wire_addresses("log"))  # the log node's Kafka link
        kcat = [kcat_path(), "-b", kafka]
        subprocess.run([*kcat, "-P", "-t", "orders"], input="by kcat\n", text=True, check=True)
        read = [*kcat, "-C", "-t", "orders", "-o", "beginning", "-e", "-f", "%s\n"]
        assert (
            subprocess.run(read, capture_output=True, text=True, timeout=60).stdout == "by kcat\n"
        )
        assert "kv1_to_kv2" in cli("net", "partition", "kv1", "kv2,kv3").stdout
        cli("net", "heal")
        assert "paused kv3" in cli("node", "pause", "kv3").stdout
        assert "paused" in cli("status").stdout
        assert "resumed kv3" in cli("node", "resume", "kv3").stdout
        not_paused = cli("node", "resume", "kv3", check=False)
        assert not_paused.returncode == 1 and "it is not paused" in not_paused.stderr
        assert "killed kv2" in cli("node", "kill", "kv2").stdout
        assert "started kv2: serving" in cli("node", "start", "kv2").stdout
        cli("down")
        assert not plain.leftovers()
    finally:
        plain.down()
        plain.close()


def test_compose_up_with_tls(engine: Engine, images: dict[str, str], tmp_path: Path) -> None:
    """`faultlab compose up --tls`: a CA and certificates in ./tls, mounted into every node
    by docker-compose.tls.yml; the CLI follows, a plaintext client is refused."""
    cli = kv_folder_cli(engine, tmp_path)
    cli("compose", "render")
    try:
        cli("compose", "up", "--no-pull", "--tls")
        assert (tmp_path / "tls" / "ca.pem").exists()
        assert cli("status").count("serving") == 3
        cli("kv", "put", "greeting", "hello")
        assert "hello" in cli("kv", "get", "greeting")
        address = Topology.from_file(tmp_path / "topology.toml").client_address("kv1")
        with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError):
            kv_pb2_grpc.KVStub(channel).Get(kv_pb2.GetRequest(key="greeting"), timeout=3)
    finally:
        cli("down")
    labels = {"label": "com.docker.compose.project=faultlab"}
    assert not engine.client.containers.list(all=True, filters=labels)
