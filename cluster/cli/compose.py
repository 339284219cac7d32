"""`faultlab compose ...`: docker-compose.yml rendered from the topology, the images it
runs (built without a registry where none answers), and the compose cluster brought up and
down so that `faultlab status`, `net`, `kv`, `lock`, `log` and `chaos run --backend
compose` work against it as against `faultlab up`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import typer
from rich.console import Console

from cluster import admin_client, state
from cluster.cli.topology_file import load_topology
from cluster.cli.ui.command import url as ui_url
from cluster.compose import (
    TLS_FILE,
    TLS_FOLDER,
    render_compose,
    render_tls_override,
    render_toxiproxy,
)
from cluster.containers import ComposeCluster, ComposeError
from cluster.engine import EngineError, listening, reachable_engine
from cluster.images import ImageError, build_images
from cluster.tls import make_cluster_tls
from cluster.waiting import WaitTimeout
from services.runtime.tls import TLS_DIR_ENV
from services.runtime.topology import Topology

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t")
PROJECT = "faultlab"


def _topology(path: Path) -> Topology:
    topo = load_topology(path)
    if not topo.resolved:
        err.print("[red]error:[/] containers need fixed ports: set cluster.base_port")
        raise typer.Exit(2)
    return topo


@app.command()
def render(
    topology: Path = TopologyOption,
    out: Path = typer.Option(Path("."), help="the folder to write into"),
) -> None:
    """Render docker-compose.yml and toxiproxy.json (the Toxiproxy container's proxies)."""
    topo = _topology(topology)
    (out / "docker-compose.yml").write_text(render_compose(topo))
    (out / "toxiproxy.json").write_text(render_toxiproxy(topo))
    console.print(f"wrote {out / 'docker-compose.yml'} and {out / 'toxiproxy.json'}")


def _images(pull: bool) -> tuple[dict[str, str], str]:
    try:
        engine = reachable_engine()
        with console.status("building images (pulling where a registry answers)..."):
            return build_images(engine.client, pull), engine.host
    except (EngineError, ImageError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e


@app.command()
def images(pull: bool = typer.Option(True, help="try the published images first")) -> None:
    """Build the images docker-compose.yml runs, on the engine DOCKER_HOST names."""
    env, _ = _images(pull)
    console.print("images ready; for `docker compose up`, export:")
    for name, value in env.items():
        console.print(f"  export {name}={value}")


@app.command()
def up(
    topology: Path = TopologyOption,
    pull: bool = typer.Option(True, help="try the published images first"),
    tls: bool = typer.Option(False, "--tls", help="mutual TLS: ./tls and docker-compose.tls.yml"),
) -> None:
    """Images, then `docker compose up --wait` in this folder; the CLI then talks to it."""
    topo = _topology(topology)
    folder = Path.cwd()
    if not (folder / "docker-compose.yml").is_file():
        # Compose itself says "no configuration file provided" and exits 0.
        err.print(
            f"[red]error:[/] no docker-compose.yml in {folder}: run `faultlab compose render` "
            "here first (or run this in the repository, which has one)"
        )
        raise typer.Exit(1)
    env, host = _images(pull)
    files: tuple[str, ...] = ()
    if tls:
        make_cluster_tls(folder / TLS_FOLDER, topo.node_ids)
        (folder / TLS_FILE).write_text(render_tls_override(topo))
        files = ("docker-compose.yml", TLS_FILE)
        os.environ[TLS_DIR_ENV] = str(folder / TLS_FOLDER)  # this process's health checks
    cluster = ComposeCluster(
        topo, folder, PROJECT, {**os.environ, "DOCKER_HOST": host}, files=files
    )
    try:
        with console.status(f"docker compose up: {len(topo.nodes)} nodes and Toxiproxy..."):
            cluster.up(env)
    except ComposeError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    finally:
        cluster.close()
    state.write(
        state.ClusterState(
            supervisor_pid=0,
            run_dir=str(folder),
            topology_path=str(topology.resolve()),
            toxiproxy_api=topo.address(topo.toxiproxy_port),
            compose_project=PROJECT,
            docker_host=host,
            tls_dir=str(folder / TLS_FOLDER) if tls else "",
            compose_files=":".join(files),
        )
    )
    try:  # as `faultlab up`: a led cluster, not one still electing (recorded first, so
        # that `faultlab down` finds it if this fails)
        with console.status("waiting for every Raft group to elect a leader..."):
            admin_client.wait_all_led(topo)
    except WaitTimeout as e:
        err.print(f"[red]error:[/] {e}; `faultlab status` shows the groups, `faultlab down` stops")
        raise typer.Exit(1) from e
    console.print(f"compose project {PROJECT!r} is up; `faultlab status`, `faultlab down`")
    console.print(f"in a browser: `faultlab ui` serves {ui_url()}")


@contextlib.contextmanager
def compose_cluster(st: state.ClusterState) -> Iterator[ComposeCluster]:
    """The compose project a state file names, on its engine."""
    env = {**os.environ, "DOCKER_HOST": st.docker_host}
    files = tuple(st.compose_files.split(":")) if st.compose_files else ()
    gone = f"no Docker engine answers at {st.docker_host}: did it stop?"
    if st.docker_host.startswith("unix://") and not listening(st.docker_host):
        raise EngineError(gone)  # knocked first: a client made now would leak its socket
    try:
        cluster = ComposeCluster(
            st.topology(), Path(st.run_dir), st.compose_project, env, files=files
        )
    except docker.errors.DockerException as e:
        raise EngineError(f"{gone} {e}") from e
    try:
        yield cluster
    finally:
        cluster.close()


def down_compose(st: state.ClusterState) -> None:
    """`docker compose down --volumes` of the project `faultlab compose up` started."""
    with compose_cluster(st) as cluster:
        cluster.down()
