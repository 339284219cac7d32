"""A real multi-node Docker Swarm on one machine, and the cluster's stack on it.

    with SwarmCluster.up(engine, images, topology, folder, project) as cluster:
        cluster.kill("kv1"); cluster.start_node("kv1")    # the node's task
        cluster.kill_host("swarm2"); cluster.start_host("swarm2")  # a whole swarm node
        cluster.pause_host / resume_host / cut_host / reconnect_host / drain_host / activate_host

Each swarm node is a container of the host's engine running its own engine (Debian's
docker.io, Dockerfile.swarm-node) on a bridge network of their own (the "LAN"); the three
engines form one swarm, all three managers, so the swarm survives the loss of any one.
Images reach them by `docker save` on the host and `docker load` in each, never through a
registry. The stack (cluster/swarm_stack.py) is deployed with `docker stack deploy` on a
manager. The host calls the cluster through Toxiproxy's host-mode ports, on the swarm node
running Toxiproxy: `topology.host` is that node's address, found again (`refresh`) when
Toxiproxy is rescheduled.

Everything is labelled with the project; `down` removes the swarm nodes with their
engines' data volumes and the network. Processes inside a swarm node live in its PID
namespace and die with it.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from cluster.backend import DerivedControls, ProcessState, Run
from cluster.serving import wait_serving_at
from cluster.swarm_stack import (
    HOSTS,
    SLOT_LABEL,
    STACK_FILE,
    TOXIPROXY_FILE,
    render_stack,
    render_swarm_toxiproxy,
)
from cluster.toxiproxy import ToxiproxyClient
from cluster.waiting import WaitTimeout, wait_until
from services.runtime.topology import Topology

PROJECT_LABEL = "io.faultlab.swarm"
SWARM_NODE_IMAGE = "faultlab-swarm-node:dev"
STACK = "faultlab"
ENGINE_PORT = 2375
HEARTBEAT_NS = 1_000_000_000  # a dead swarm node is noticed in seconds, not the default 5 s x n
STOP_GRACE_S = 10
ENGINE_TIMEOUT_S = 10
START_TIMEOUT_S = 120.0
# One try of Toxiproxy's API while refresh polls: a frozen node holds the request open.
TOXIPROXY_PROBE_TIMEOUT_S = 1.0


class SwarmError(RuntimeError):
    """The swarm could not be built, or a node or task is not where it should be."""


# The node containers: privileged, less CAP_SYS_RESOURCE (see swarm_node_entrypoint.sh).
NODE_CONTAINER_OPTIONS: dict[str, Any] = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"],
    "tmpfs": {"/run": ""},
}


class SwarmCluster(DerivedControls):
    def __init__(
        self,
        client: docker.DockerClient,
        topology: Topology,
        folder: Path,
        project: str,
        hosts: int = HOSTS,
    ) -> None:
        """`topology` as rendered (any host); `folder` receives the stack files."""
        self.client = client  # the host's engine
        self.rendered = topology
        self.topology = topology
        self.folder = Path(folder)
        self.run_dir = self.folder
        self.project = project
        self.hosts = [f"swarm{i}" for i in range(1, hosts + 1)]
        self.toxiproxy: ToxiproxyClient | None = None
        self._engines: dict[str, docker.DockerClient] = {}
        self._manager_host = ""  # the manager that answered last: see manager()
        self.up_s = 0.0  # how long `up` took

    @property
    def topology_path(self) -> Path:
        return self.folder / "topology.toml"

    @property
    def network(self) -> str:
        return f"{self.project}-hosts"

    # -- building and removing the swarm ---------------------------------------------------

    def up(self, images: dict[str, str], node_env: dict[str, str] | None = None) -> None:
        """Swarm nodes, the swarm, the images in every engine, the stack; returns once
        every node serves through Toxiproxy."""
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.client.networks.create(
            self.network, driver="bridge", labels={PROJECT_LABEL: self.project}
        )
        for i, host in enumerate(self.hosts, 1):
            self._start_host_container(host, i)
        for host in self.hosts:
            self._wait_engine(host)
        self._form_swarm()
        self._load_images(images)
        self._deploy(images, node_env or {})
        self.refresh()
        for node in self.topology.nodes:
            self.wait_serving(node.id)
        self.up_s = time.monotonic() - started

    def down(self) -> None:
        """Remove the swarm nodes (their engines and everything on them), their data
        volumes and the network."""
        if self.toxiproxy is not None:
            self.toxiproxy.close()
            self.toxiproxy = None
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        label: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.project}"}
        for c in self.client.containers.list(all=True, filters=label):
            c.remove(force=True, v=True)
        for v in self.client.volumes.list(filters=label):
            v.remove(force=True)
        for n in self.client.networks.list(filters=label):
            n.remove()

    def leftovers(self) -> list[str]:
        label: dict[str, str | list[str] | bool] = {"label": f"{PROJECT_LABEL}={self.project}"}
        found = [
            f"container {c.name}" for c in self.client.containers.list(all=True, filters=label)
        ]
        found += [f"network {n.name}" for n in self.client.networks.list(filters=label)]
        found += [f"volume {v.name}" for v in self.client.volumes.list(filters=label)]
        return found

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def _start_host_container(self, host: str, index: int) -> None:
        name = f"{self.project}-{host}"
        volume = f"{name}-docker"
        self.client.volumes.create(volume, labels={PROJECT_LABEL: self.project})
        api = self.client.api
        host_config = api.create_host_config(
            binds={volume: {"bind": "/var/lib/docker", "mode": "rw"}},
            network_mode=self.network,
            **NODE_CONTAINER_OPTIONS,
        )
        # The CLI's `--security-opt systempaths=unconfined`, which the SDK has no word for:
        # /proc and /sys unmasked and writable, as --privileged leaves them (the engine
        # inside sets sysctls such as ip_forward).
        host_config.update({"MaskedPaths": [], "ReadonlyPaths": []})
        created = api.create_container(
            SWARM_NODE_IMAGE,
            name=name,
            hostname=host,
            detach=True,
            labels={PROJECT_LABEL: self.project, "io.faultlab.swarm.slot": str(index)},
            host_config=host_config,
        )
        api.start(created["Id"])

    def host_container(self, host: str) -> Container:
        return self.client.containers.get(f"{self.project}-{host}")

    def host_address(self, host: str) -> str:
        c = self.host_container(host)
        c.reload()
        return str(c.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def engine(self, host: str) -> docker.DockerClient:
        """The engine inside swarm node `host`."""
        if host not in self._engines:
            url = f"tcp://{self.host_address(host)}:{ENGINE_PORT}"
            # Short: a paused or cut swarm node does not answer at all.
            self._engines[host] = docker.DockerClient(base_url=url, timeout=ENGINE_TIMEOUT_S)
        return self._engines[host]

    def _wait_engine(self, host: str, timeout_s: float = START_TIMEOUT_S) -> None:
        def answers() -> bool:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                self._engines.pop(host, None)
                return bool(self.engine(host).ping())
            return False

        try:
            wait_until(answers, timeout_s, f"the engine of swarm node {host}", interval_s=0.2)
        except WaitTimeout as e:
            logs = self.host_container(host).logs(tail=20).decode(errors="replace")
            raise SwarmError(f"{e}; last lines of its engine:\n{logs}") from e

    def _form_swarm(self) -> None:
        first, *others = self.hosts
        address = self.host_address(first)
        self.engine(first).swarm.init(
            advertise_addr=address, dispatcher_heartbeat_period=HEARTBEAT_NS
        )
        token = self.engine(first).swarm.attrs["JoinTokens"]["Manager"]
        for host in others:
            self.engine(host).swarm.join(
                remote_addrs=[f"{address}:2377"],
                join_token=token,
                advertise_addr=self.host_address(host),
            )
        for node in self.manager().nodes.list():
            host = node.attrs["Description"]["Hostname"]
            seen, address = node.attrs["Status"]["Addr"], self.host_address(host)
            if seen != address:
                # The overlay's VXLAN packets would arrive from `seen` too, and the kernel
                # drops them (each peer's address is a permanent forwarding entry).
                raise SwarmError(
                    f"the swarm sees {host} at {seen}, not at its address {address}: "
                    f"traffic on {self.network} is NATed on this machine (a MASQUERADE "
                    "rule for that subnet left by another engine?)"
                )
            spec = node.attrs["Spec"]
            index = self.hosts.index(host) + 1
            spec["Labels"] = {**spec.get("Labels", {}), SLOT_LABEL: str(index)}
            node.update(spec)

    def _load_images(self, images: dict[str, str]) -> None:
        """`docker save` once on the host, `docker load` into every swarm node at once."""
        wanted = [images["FAULTLAB_NODE_IMAGE"], images["FAULTLAB_TOXIPROXY_IMAGE"]]
        with tempfile.TemporaryDirectory(prefix="faultlab-swarm-images-") as tmp:
            tarballs = [Path(tmp) / f"image{i}.tar" for i in range(len(wanted))]
            for image, tarball in zip(wanted, tarballs, strict=True):
                with open(tarball, "wb") as out:
                    for chunk in self.client.images.get(image).save(named=True):
                        out.write(chunk)
            failures: list[str] = []

            def load(host: str) -> None:
                try:
                    url = f"tcp://{self.host_address(host)}:{ENGINE_PORT}"
                    with docker.APIClient(base_url=url, timeout=600) as api:
                        for tarball in tarballs:
                            with open(tarball, "rb") as data:
                                api.load_image(data, quiet=True)  # type: ignore[no-untyped-call]
                except docker.errors.DockerException as e:
                    failures.append(f"{host}: {e}")

            threads = [threading.Thread(target=load, args=(h,)) for h in self.hosts]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if failures:
                raise SwarmError(f"loading the images failed: {failures}")

    def _deploy(self, images: dict[str, str], node_env: dict[str, str]) -> None:
        files = {
            STACK_FILE: render_stack(self.rendered, images, len(self.hosts), node_env),
            TOXIPROXY_FILE: render_swarm_toxiproxy(self.rendered),
            "topology.toml": self.rendered.to_toml(),
        }
        for name, text in files.items():
            (self.folder / name).write_text(text)
        manager = self.host_container(self.hosts[0])
        manager.put_archive("/", _tar({f"stack/{n}": t for n, t in files.items()}))
        code, output = manager.exec_run(
            ["docker", "stack", "deploy", "--compose-file", f"/stack/{STACK_FILE}", STACK],
            workdir="/stack",
        )
        if code != 0:
            shown = output.decode(errors="replace") if isinstance(output, bytes) else ""
            raise SwarmError(f"docker stack deploy failed:\n{shown}")

    # -- the swarm's view ------------------------------------------------------------------

    def manager(self) -> docker.DockerClient:
        """A reachable manager's engine (any of them, after a node is lost). The one that
        answered last is asked first: a paused node's engine answers nothing, and asking it
        costs the whole engine timeout on every call of a poll."""
        for host in sorted(self.hosts, key=lambda h: h != self._manager_host):
            with contextlib.suppress(docker.errors.DockerException, OSError):
                engine = self.engine(host)
                if engine.info()["Swarm"].get("ControlAvailable"):
                    self._manager_host = host
                    return engine
            self._engines.pop(host, None)
        raise SwarmError("no swarm manager answers")

    def _host_of_node_id(self, swarm_node_id: str) -> str:
        node = self.manager().nodes.get(swarm_node_id)
        return str(node.attrs["Description"]["Hostname"])

    def _running_task(self, service: str) -> dict[str, Any] | None:
        """`service`'s running task on a node the swarm sees as ready (a dead node's
        tasks read as running until the managers mark the node down)."""
        manager = self.manager()
        ready = {n.id for n in manager.nodes.list() if n.attrs["Status"]["State"] == "ready"}
        tasks = self._service(manager, service).tasks(filters={"desired-state": "running"})
        running = [t for t in tasks if t["Status"]["State"] == "running" and t["NodeID"] in ready]
        return running[0] if running else None

    def host_of(self, service: str) -> str:
        """The swarm node running `service`'s task (a node id, or "toxiproxy")."""
        host = self.host_of_or_none(service)
        if host is None:
            raise SwarmError(f"{service} has no running task")
        return host

    def host_of_or_none(self, service: str) -> str | None:
        """The swarm node running `service`'s task; None when none runs, or when the swarm
        cannot say yet (just after a manager was lost, the others elect a leader of their
        own, and until then no manager answers): what the polls wait through."""
        try:
            task = self._running_task(service)
            return None if task is None else self._host_of_node_id(task["NodeID"])
        except (SwarmError, docker.errors.DockerException, OSError):
            return None

    def refresh(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Find Toxiproxy's swarm node (again, after it was rescheduled): the host's
        address of the cluster, and a client of Toxiproxy's API there."""
        self.topology = wait_until(
            self._topology_of_answering_toxiproxy_or_none,
            timeout_s,
            "a Toxiproxy that answers, running on a live swarm node",
            interval_s=0.2,
        )
        self.topology_path.write_text(self.topology.to_toml())
        if self.toxiproxy is not None:
            self.toxiproxy.close()
        self.toxiproxy = ToxiproxyClient(self.topology.address(self.topology.toxiproxy_port))

    def _topology_of_answering_toxiproxy_or_none(self) -> Topology | None:
        """The cluster's topology around the swarm node running Toxiproxy, once its API
        answers; None until then. Both a killed and a paused node's tasks read as running
        until the managers mark the node down: the killed node's container, stopped, has no
        address (''), and the paused one's keeps it but does not answer, so a probe asks."""
        host = self.host_of_or_none("toxiproxy")
        address = self.host_address(host) if host is not None else ""
        if not address:
            return None
        topology = Topology.build(address, self.rendered.base_port, self.rendered.groups)
        api = topology.address(topology.toxiproxy_port)
        with ToxiproxyClient(api, timeout_s=TOXIPROXY_PROBE_TIMEOUT_S) as probe:
            return topology if probe.answers() else None

    # -- one node's task (the process controls of the Cluster protocol) ---------------------

    def _task_container(self, node_id: str) -> Container | None:
        self.topology.node(node_id)  # unknown ids get the topology's clear error
        task = self._running_task(node_id)
        if task is None:
            return None
        host = self._host_of_node_id(task["NodeID"])
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        return self.engine(host).containers.get(cid)

    def _scale(self, node_id: str, replicas: int) -> None:
        self._service(self.manager(), node_id).scale(replicas)

    @staticmethod
    def _service(manager: docker.DockerClient, name: str) -> Any:
        return manager.services.get(f"{STACK}_{name}")  # type: ignore[no-untyped-call]

    def is_running(self, node_id: str) -> bool:
        return self.process_state(node_id).run is not Run.STOPPED

    def process_state(self, node_id: str) -> ProcessState:
        with contextlib.suppress(docker.errors.DockerException, OSError):
            c = self._task_container(node_id)
            if c is not None:
                return ProcessState(Run.PAUSED if c.status == "paused" else Run.RUNNING)
        return ProcessState(Run.STOPPED)

    def kill(self, node_id: str) -> int:
        """SIGKILL the node's task container, and scale its service to 0 before the
        restart policy's delay (1 s) runs out, so it stays down until `start_node`."""
        c = self._task_container(node_id)
        code = 137
        if c is not None:
            c.kill()
            c.reload()
            code = int(c.attrs["State"]["ExitCode"])
        self._scale(node_id, 0)
        wait_until(lambda: self._task_container(node_id) is None, 30.0, f"{node_id} down")
        return code

    def stop(self, node_id: str, grace_s: float = STOP_GRACE_S) -> int:
        """Scale to 0: the swarm agent sends SIGTERM and kills after the stop grace."""
        c = self._task_container(node_id)
        self._scale(node_id, 0)
        wait_until(lambda: self._task_container(node_id) is None, grace_s + 30, f"{node_id} down")
        if c is None:
            return 0
        c.reload()
        return int(c.attrs["State"]["ExitCode"])

    def start_node(self, node_id: str, wait: bool = True) -> None:
        self._scale(node_id, 1)
        if wait:
            self.wait_serving(node_id)

    def pause(self, node_id: str) -> None:
        c = self._task_container(node_id)
        if c is None:
            raise SwarmError(f"{node_id} has no running task to pause")
        c.pause()

    def resume(self, node_id: str) -> None:
        c = self._task_container(node_id)
        if c is None:
            raise SwarmError(f"{node_id} has no task to resume")
        c.unpause()

    def wait_serving(self, node_id: str, timeout_s: float | None = None) -> None:
        address = self.topology.listen_address(node_id)  # its _listen proxy
        wait_serving_at(address, timeout_s or START_TIMEOUT_S, node_id)

    def save_logs(self) -> None:
        """Every task container's log (killed ones too), into run_dir/logs/NODE.log, as
        the process backend keeps them."""
        folder = self.run_dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            with contextlib.suppress(docker.errors.DockerException, OSError):
                for c in self.engine(host).containers.list(all=True):
                    service = c.labels.get("com.docker.swarm.service.name", "")
                    name = service.removeprefix(f"{STACK}_") or c.name
                    with open(folder / f"{name}.log", "ab") as out:
                        out.write(c.logs())

    # -- whole swarm nodes: the node-level faults -----------------------------------------

    def kill_host(self, host: str) -> None:
        """SIGKILL a swarm node's container: its engine and every task on it, at once."""
        self.host_container(host).kill()
        self._engines.pop(host, None)

    def start_host(self, host: str) -> None:
        """Start a killed swarm node again; returns once the swarm sees it ready."""
        self.host_container(host).start()
        self._engines.pop(host, None)
        self._wait_engine(host)
        wait_until(lambda: self._node_state(host) == "ready", START_TIMEOUT_S, f"{host} ready")

    def pause_host(self, host: str) -> None:
        """Freeze a whole swarm node (the cgroup freezer): engine and tasks stop mid-flight."""
        self.host_container(host).pause()

    def resume_host(self, host: str) -> None:
        self.host_container(host).unpause()

    def cut_host(self, host: str) -> None:
        """Disconnect a swarm node from the others: its cable pulled."""
        self.client.networks.get(self.network).disconnect(self.host_container(host), force=True)
        self._engines.pop(host, None)

    def reconnect_host(self, host: str) -> None:
        self.client.networks.get(self.network).connect(self.host_container(host))
        self._engines.pop(host, None)

    def drain_host(self, host: str) -> None:
        """Availability drain: the swarm moves the node's tasks elsewhere (those pinned to
        it wait: see cluster/swarm_stack.py)."""
        self._set_availability(host, "drain")

    def activate_host(self, host: str) -> None:
        self._set_availability(host, "active")

    def _swarm_node(self, host: str) -> Any:
        for node in self.manager().nodes.list():
            if node.attrs["Description"]["Hostname"] == host:
                return node
        raise SwarmError(f"{host} is not a node of the swarm")

    def _node_state(self, host: str) -> str:
        with contextlib.suppress(docker.errors.DockerException, OSError, SwarmError):
            return str(self._swarm_node(host).attrs["Status"]["State"])
        return "unknown"

    def node_states(self) -> dict[str, str]:
        return {host: self._node_state(host) for host in self.hosts}

    def _set_availability(self, host: str, availability: str) -> None:
        node = self._swarm_node(host)
        spec = node.attrs["Spec"]
        spec["Availability"] = availability
        node.update(spec)


@contextlib.contextmanager
def swarm_cluster(
    client: docker.DockerClient,
    images: dict[str, str],
    topology: Topology,
    folder: Path,
    project: str,
    node_env: dict[str, str] | None = None,
) -> Iterator[SwarmCluster]:
    """A swarm with the stack up, removed on exit however the block ends."""
    cluster = SwarmCluster(client, topology, folder, project)
    try:
        cluster.up(images, node_env)
        yield cluster
    finally:
        cluster.down()


def _tar(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
