"""Where an experiment's fresh cluster runs: local processes (the default) or containers.

    with processes(topology, node_env, needs, run_dir) as cluster: ...
    with local_processes(tls=True)(topology, node_env, needs, run_dir) as cluster: ...
    with Compose(engine, images)(topology, node_env, needs, run_dir) as cluster: ...
    with Swarm(engine, images)(topology, node_env, needs, run_dir) as cluster: ...

Either way the cluster is new for each mode (empty data, nothing left of an earlier run)
and gone afterwards, so a run never judges state it did not make. On containers, the
mode's node environment goes into a compose override file, and the containers' ports
are a free block, as the processes' are.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import yaml

from chaos.disk.nodes import NodeDisks
from cluster.backend import Cluster
from cluster.compose import render_compose, render_toxiproxy
from cluster.containers import ComposeCluster
from cluster.engine import Engine
from cluster.launcher import REPO_ROOT, LocalCluster
from cluster.ports import free_port_block
from cluster.swarm import SwarmCluster
from cluster.swarm_stack import SWARM_BASE_PORT
from services.runtime.topology import Topology


@dataclass(frozen=True)
class Needs:
    """What an experiment's faults need of the nodes, beyond processes and links."""

    lazy_disks: bool = False  # every node's data on a lazy disk (chaos.disk): power cuts
    fake_clocks: bool = False  # every node under libfaketime (cluster/clocks.py)


# (topology, node environment, needs, run folder) -> a started cluster, closed after.
Backend = Callable[[Topology, dict[str, str], Needs, Path], AbstractContextManager[Cluster]]


def local_processes(tls: bool = False) -> Backend:
    """Local processes; `tls`: mutual TLS on every connection, the clients following."""

    @contextlib.contextmanager
    def start(
        topology: Topology, node_env: dict[str, str], needs: Needs, run_dir: Path
    ) -> Iterator[Cluster]:
        with contextlib.ExitStack() as stack:
            if needs.lazy_disks:  # mounted before the nodes start, unmounted after they stop
                stack.enter_context(NodeDisks(run_dir, topology.node_ids))
            cluster = LocalCluster(
                topology, run_dir, node_env=node_env, tls=tls, fake_clocks=needs.fake_clocks
            )
            yield stack.enter_context(cluster)

    return start


processes = local_processes()


class BackendError(RuntimeError):
    """The experiment cannot run on this backend; the message says why."""


def refuse_process_only(needs: Needs, why_no_lazy_disks: str) -> None:
    """Lazy disks and fake clocks exist only on the process backend: say so, and why."""
    if needs.lazy_disks:
        raise BackendError(
            "this experiment needs lazy disks (FUSE under each node's data): " + why_no_lazy_disks
        )
    if needs.fake_clocks:
        raise BackendError(
            "this experiment skews node clocks with libfaketime preloaded into each "
            "node's process, which only the process backend does"
        )


class Compose:
    """Fresh compose projects on `engine`, running `images` (cluster.images)."""

    def __init__(self, engine: Engine, images: dict[str, str]) -> None:
        self.engine = engine
        self.images = images

    @contextlib.contextmanager
    def __call__(
        self, topology: Topology, node_env: dict[str, str], needs: Needs, run_dir: Path
    ) -> Iterator[Cluster]:
        refuse_process_only(needs, "only the process backend mounts them")
        if not topology.resolved:
            topology = topology.with_base_port(free_port_block(topology.port_span(), topology.host))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "docker-compose.yml").write_text(render_compose(topology, str(REPO_ROOT)))
        (run_dir / "toxiproxy.json").write_text(render_toxiproxy(topology))
        (run_dir / "topology.toml").write_text(topology.to_toml())
        override = {"services": {n.id: {"environment": node_env} for n in topology.nodes}}
        (run_dir / "docker-compose.override.yml").write_text(yaml.safe_dump(override))
        cluster = ComposeCluster(
            topology, run_dir, f"faultlab-{uuid.uuid4().hex[:8]}", self.engine.env
        )
        try:
            cluster.up(self.images)
            yield cluster
        finally:
            try:  # the containers' logs, kept with the run as the process backend's are
                (run_dir / "compose.log").write_text(cluster.compose("logs", "--no-color"))
            finally:
                cluster.down()
                cluster.close()


class Swarm:
    """Fresh three-node Docker Swarms on `engine` (cluster/swarm.py), running `images`
    (cluster.images, with the swarm node image built)."""

    def __init__(self, engine: Engine, images: dict[str, str]) -> None:
        self.engine = engine
        self.images = images

    @contextlib.contextmanager
    def __call__(
        self, topology: Topology, node_env: dict[str, str], needs: Needs, run_dir: Path
    ) -> Iterator[Cluster]:
        refuse_process_only(
            needs,
            "on a swarm the data is a volume of an engine inside a swarm node, where no "
            "FUSE mount of the host reaches: only the process backend mounts them",
        )
        if not topology.resolved:  # inside the swarm each node has its own address
            topology = topology.with_base_port(SWARM_BASE_PORT)
        project = f"faultlab-{uuid.uuid4().hex[:8]}"
        cluster = SwarmCluster(self.engine.client, topology, run_dir, project)
        try:
            cluster.up(self.images, node_env)
            yield cluster
        finally:
            try:
                cluster.save_logs()
            finally:
                cluster.down()
