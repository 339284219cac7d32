"""`faultlab swarm ...`: a real three-node Docker Swarm on this machine running the
topology as a stack (cluster/swarm.py), and faults to whole swarm nodes.

    faultlab swarm render              # stack.yml and toxiproxy.swarm.json, to read or deploy
    faultlab swarm up                  # then status, kv, net, node ... work as with `up`
    faultlab swarm status              # swarm nodes, where each task runs
    faultlab swarm host kill swarm2    # kill | start | pause | resume | cut | reconnect |
                                       # drain | activate
    faultlab down                      # or `faultlab swarm down`: nothing left behind

The cluster is reached through Toxiproxy's published ports on the swarm node running it;
each `faultlab swarm` command finds that node again (Toxiproxy moves when its node dies
or is drained) and records it for the other commands."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import typer
from rich.console import Console
from rich.table import Table

from cluster import state
from cluster.cli.compose import _images
from cluster.cli.topology_file import load_topology
from cluster.engine import EngineError, listening, reachable_engine
from cluster.images import ImageError, build_swarm_node_image
from cluster.swarm import SWARM_NODE_IMAGE, SwarmCluster, SwarmError
from cluster.swarm_stack import SWARM_BASE_PORT, render_stack, render_swarm_toxiproxy
from cluster.waiting import WaitTimeout
from services.runtime.topology import Topology

app = typer.Typer(no_args_is_help=True)
host_app = typer.Typer(no_args_is_help=True, help="Faults to a whole swarm node.")
app.add_typer(host_app, name="host")
console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t")


def _topology(path: Path) -> Topology:
    topo = load_topology(path)
    # Inside the swarm each node has an address of its own: any block of ports will do.
    return topo if topo.resolved else topo.with_base_port(SWARM_BASE_PORT)


@app.command()
def render(
    topology: Path = TopologyOption,
    out: Path = typer.Option(Path("."), help="the folder to write into"),
) -> None:
    """Write stack.yml and toxiproxy.swarm.json (for `docker stack deploy -c stack.yml`)."""
    topo = _topology(topology)
    images = {
        "FAULTLAB_NODE_IMAGE": "faultlab-node:dev",
        "FAULTLAB_TOXIPROXY_IMAGE": "faultlab-toxiproxy:2.5.0",
    }
    (out / "stack.yml").write_text(render_stack(topo, images))
    (out / "toxiproxy.swarm.json").write_text(render_swarm_toxiproxy(topo))
    console.print(f"wrote {out / 'stack.yml'} and {out / 'toxiproxy.swarm.json'}")


@app.command()
def up(
    topology: Path = TopologyOption,
    pull: bool = typer.Option(True, help="try the published images first"),
) -> None:
    """Three swarm nodes (containers running engines), the swarm, the stack; returns once
    every node serves. The CLI then talks to it."""
    topo = _topology(topology)
    env, host = _images(pull)
    folder = (state.state_dir() / "swarm").resolve()
    project = f"faultlab-swarm-{uuid.uuid4().hex[:6]}"
    try:
        engine = reachable_engine()
        with console.status("building the swarm node image (once)..."):
            build_swarm_node_image(engine.client, SWARM_NODE_IMAGE)
        cluster = SwarmCluster(engine.client, topo, folder, project)
        try:
            with console.status("swarm up: three engines, the swarm, the images, the stack..."):
                cluster.up(env)
        except (SwarmError, WaitTimeout, docker.errors.DockerException) as e:
            cluster.down()
            raise SwarmError(str(e)) from e
        _record(cluster, host)
        cluster.close()
    except (EngineError, ImageError, SwarmError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    console.print(
        f"swarm {project!r} is up in {cluster.up_s:.1f} s, reached at {cluster.topology.host}; "
        "`faultlab status`, `faultlab swarm status`, `faultlab down`"
    )


def _record(cluster: SwarmCluster, docker_host: str) -> None:
    state.write(
        state.ClusterState(
            supervisor_pid=0,
            run_dir=str(cluster.folder),
            topology_path=str(cluster.topology_path),
            toxiproxy_api=cluster.topology.address(cluster.topology.toxiproxy_port),
            docker_host=docker_host,
            swarm_project=cluster.project,
        )
    )


@contextlib.contextmanager
def swarm_cluster(st: state.ClusterState) -> Iterator[SwarmCluster]:
    """The swarm a state file names; Toxiproxy found again and recorded on the way out."""
    gone = f"no Docker engine answers at {st.docker_host}: did it stop?"
    if st.docker_host.startswith("unix://") and not listening(st.docker_host):
        raise EngineError(gone)
    try:
        client = docker.DockerClient(base_url=st.docker_host, timeout=120)
    except docker.errors.DockerException as e:
        raise EngineError(f"{gone} {e}") from e
    cluster = SwarmCluster(client, st.topology(), Path(st.run_dir), st.swarm_project)
    try:
        yield cluster
        cluster.refresh()
        _record(cluster, st.docker_host)
    finally:
        cluster.close()
        client.close()


def down_swarm(st: state.ClusterState) -> None:
    """Remove the swarm `faultlab swarm up` made: nodes, their engines' data, network."""
    client = docker.DockerClient(base_url=st.docker_host, timeout=120)
    try:
        cluster = SwarmCluster(client, st.topology(), Path(st.run_dir), st.swarm_project)
        cluster.down()
    finally:
        client.close()


def _swarm_state() -> state.ClusterState:
    try:
        st = state.read()
    except state.NoCluster as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    if not st.swarm_project:
        err.print("[red]error:[/] the running cluster is not a swarm (`faultlab swarm up`)")
        raise typer.Exit(1)
    return st


@app.command()
def down() -> None:
    """Remove the swarm: swarm nodes, every task, volumes and the network."""
    st = _swarm_state()
    down_swarm(st)
    state.state_path().unlink(missing_ok=True)
    console.print(f"swarm {st.swarm_project!r} removed, volumes included")


@app.command()
def status() -> None:
    """The swarm nodes as the managers see them, and where each task runs."""
    st = _swarm_state()
    try:
        with swarm_cluster(st) as cluster:
            nodes = cluster.node_states()
            placed = {
                s: cluster.host_of_or_none(s) for s in ("toxiproxy", *cluster.topology.node_ids)
            }
    except (EngineError, SwarmError, WaitTimeout) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    table = Table("swarm node", "state", "tasks")
    for host, node_state in nodes.items():
        here = sorted(s for s, h in placed.items() if h == host)
        table.add_row(host, node_state, ", ".join(here) or "-")
    console.print(table)
    waiting = sorted(s for s, h in placed.items() if h is None)
    if waiting:
        console.print(f"not running: {', '.join(waiting)}")
    console.print(f"reached at {st.topology().host} (Toxiproxy's swarm node)")


HOST_VERBS: dict[str, tuple[str, Callable[[SwarmCluster, str], None]]] = {
    "kill": ("SIGKILL the swarm node: its engine and every task on it.", SwarmCluster.kill_host),
    "start": (
        "Start a killed swarm node; returns once the swarm sees it.",
        SwarmCluster.start_host,
    ),
    "pause": ("Freeze the whole swarm node (cgroup freezer).", SwarmCluster.pause_host),
    "resume": ("Thaw a paused swarm node.", SwarmCluster.resume_host),
    "cut": ("Disconnect the swarm node from the others.", SwarmCluster.cut_host),
    "reconnect": ("Connect a cut swarm node again.", SwarmCluster.reconnect_host),
    "drain": ("Drain: free tasks move elsewhere, pinned ones wait.", SwarmCluster.drain_host),
    "activate": ("Make a drained swarm node active again.", SwarmCluster.activate_host),
}


def _host_command(verb: str) -> Callable[[str], None]:
    help_text, action = HOST_VERBS[verb]

    def command(host: str = typer.Argument(..., help="swarm1, swarm2 or swarm3")) -> None:
        st = _swarm_state()
        try:
            with swarm_cluster(st) as cluster:
                if host not in cluster.hosts:
                    err.print(f"[red]error:[/] {host!r} is not one of {', '.join(cluster.hosts)}")
                    raise typer.Exit(2)
                action(cluster, host)
        except (EngineError, SwarmError, WaitTimeout, docker.errors.DockerException) as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(1) from e
        console.print(f"{host}: {verb} done")

    command.__doc__ = help_text
    return command


for _verb in HOST_VERBS:
    host_app.command(_verb)(_host_command(_verb))
