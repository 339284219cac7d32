"""The state file that lets `faultlab status`, `net` and `down` find a running cluster.

`faultlab up` writes .faultlab/state.json once every node serves and removes it on exit;
the file names the supervising process, the run folder and the resolved topology.
`faultlab compose up` writes one too, naming the compose project and its Docker engine;
`faultlab swarm up` names its swarm's project and engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from services.runtime.topology import Topology

STATE_DIR_ENV = "FAULTLAB_HOME"


class NoCluster(RuntimeError):
    """No cluster is running (no state file, or its supervisor is gone)."""


@dataclass(frozen=True)
class ClusterState:
    supervisor_pid: int  # 0 for a compose cluster: the Docker engine supervises it
    run_dir: str
    topology_path: str
    toxiproxy_api: str
    compose_project: str = ""  # set by `faultlab compose up`: the containers' project
    docker_host: str = ""  # and the engine they run on
    supervisor_socket: str = ""  # `faultlab up`'s node controls (cluster/supervisor.py)
    tls_dir: str = ""  # `faultlab up --tls`: the CA and certificates (FAULTLAB_TLS_DIR)
    compose_files: str = ""  # COMPOSE_FILE for a compose cluster: files joined with ":"
    swarm_project: str = ""  # set by `faultlab swarm up`: the swarm nodes' project

    @property
    def on_docker(self) -> bool:
        """Run by a Docker engine (compose or swarm), not by a supervising process."""
        return bool(self.compose_project or self.swarm_project)

    def topology(self) -> Topology:
        return Topology.from_file(self.topology_path)


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, ".faultlab"))


def state_path() -> Path:
    return state_dir() / "state.json"


def write(state: ClusterState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(path)


def read() -> ClusterState:
    path = state_path()
    try:
        state = ClusterState(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise NoCluster(
            f"no cluster is running ({path} not found); start one with `faultlab up`"
        ) from None
    except (ValueError, TypeError) as e:
        raise NoCluster(f"{path} is not a faultlab state file: {e}") from e
    if not state.on_docker and not _alive(state.supervisor_pid):
        raise NoCluster(
            f"the cluster's supervisor (pid {state.supervisor_pid}) is gone; remove {path}"
        )
    return state


def remove(owner_pid: int) -> None:
    """Remove the state file if it still belongs to `owner_pid`."""
    path = state_path()
    try:
        if json.loads(path.read_text()).get("supervisor_pid") == owner_pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
