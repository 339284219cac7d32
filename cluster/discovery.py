"""A cluster started without faultlab: `docker compose up` in a folder holding the
topology and the compose file rendered from it (the repository is one).

    found = compose_project_in(Path.cwd())   # a ClusterState, or None

The project is the one whose containers Compose labelled with this folder as their
working directory, on the engine DOCKER_HOST (or /var/run/docker.sock) answers on, and
it must have a container for every node of the folder's topology.toml: the ports the
CLI dials are that topology's, which the compose file publishes.
"""

from __future__ import annotations

from pathlib import Path

from cluster.state import ClusterState
from services.runtime.topology import Topology, TopologyError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
TOPOLOGY_FILE = "topology.toml"
COMPOSE_FILE = "docker-compose.yml"


def compose_project_in(folder: Path) -> ClusterState | None:
    folder = folder.resolve()
    if not (folder / TOPOLOGY_FILE).is_file() or not (folder / COMPOSE_FILE).is_file():
        return None
    try:
        topology = Topology.from_file(folder / TOPOLOGY_FILE)
    except TopologyError:
        return None
    if not topology.resolved:  # compose publishes fixed ports; base_port 0 has none
        return None
    from cluster.engine import answering_engine  # the Docker SDK: only when looking

    engine = answering_engine()
    if engine is None:
        return None
    try:
        # Stopped and paused ones too: `faultlab node kill kv1` must not lose the cluster.
        found = engine.client.containers.list(
            all=True, filters={"label": f"{WORKING_DIR_LABEL}={folder}"}
        )
        projects = {c.labels[PROJECT_LABEL] for c in found}
        services = {c.labels.get(SERVICE_LABEL) for c in found}
        running = any(c.status == "running" for c in found)
    finally:
        engine.client.close()
    if len(projects) != 1 or not running or not set(topology.node_ids) <= services:
        return None
    return ClusterState(
        supervisor_pid=0,
        run_dir=str(folder),
        topology_path=str(folder / TOPOLOGY_FILE),
        toxiproxy_api=topology.address(topology.toxiproxy_port),
        compose_project=projects.pop(),
        docker_host=engine.host,
    )
