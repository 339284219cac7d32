"""`faultlab up` and `faultlab down`: run a local cluster, and stop it."""

from __future__ import annotations

import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from chaos.disk.mounts import DiskError
from chaos.disk.nodes import NodeDisks
from cluster import admin_client, state
from cluster.cli.current import cluster_state
from cluster.cli.endpoints import etcd_endpoints_line, kafka_bootstrap_line
from cluster.cli.topology_file import load_topology
from cluster.cli.ui.command import url as ui_url
from cluster.launcher import LauncherError, LocalCluster
from cluster.processes import tail
from cluster.supervisor import serve_node_controls
from cluster.waiting import WaitTimeout, wait_until
from services.runtime.config import PEER_TRANSPORTS

console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t", help="topology TOML file")


def up(
    topology: Path = TopologyOption,
    detach: bool = typer.Option(False, "--detach", "-d", help="run in the background"),
    run_dir: Path | None = typer.Option(None, help="where logs and data go"),
    lazy_disks: bool = typer.Option(
        False, "--lazy-disks", help="each node's data on a lazy disk (FUSE): disk faults"
    ),
    tls: bool = typer.Option(
        False, "--tls", help="mutual TLS on every connection: a CA and certificates of its own"
    ),
    clocks: bool = typer.Option(
        False, "--clocks", help="each node under libfaketime: clock faults (faultlab clock)"
    ),
    peer_transport: str = typer.Option(
        PEER_TRANSPORTS[0],
        "--peer-transport",
        envvar="FAULTLAB_PEER_TRANSPORT",
        help=f"what carries Raft messages: {' or '.join(PEER_TRANSPORTS)} (docs/performance.md)",
    ),
) -> None:
    """Start Toxiproxy and every node; Ctrl-C (or `faultlab down`) stops them all."""
    topo = load_topology(topology)
    if peer_transport not in PEER_TRANSPORTS:
        err.print(
            f"[red]error:[/] --peer-transport {peer_transport!r}: "
            f"use {' or '.join(PEER_TRANSPORTS)}"
        )
        raise typer.Exit(2)
    _refuse_second_cluster()
    run_dir = (run_dir or state.state_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")).absolute()
    if detach:
        _up_detached(topology, run_dir, lazy_disks, tls, clocks, peer_transport)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = LocalCluster(
        topo, run_dir, tls=tls, fake_clocks=clocks, peer_transport=peer_transport
    )
    disks = NodeDisks(run_dir, topo.node_ids) if lazy_disks else None
    controls: socketserver.BaseServer | None = None
    try:
        with console.status(f"starting {len(topo.nodes)} nodes and Toxiproxy..."):
            if disks is not None:
                disks.mount()
            cluster.start()
        with console.status("waiting for every Raft group to elect a leader..."):
            _wait_led(cluster)
        socket_name, controls = serve_node_controls(cluster)
        state.write(
            state.ClusterState(
                supervisor_pid=os.getpid(),
                run_dir=str(run_dir),
                topology_path=str(cluster.topology_path),
                toxiproxy_api=cluster.toxiproxy_api,
                supervisor_socket=socket_name,
                tls_dir=str(cluster.tls_dir or ""),
            )
        )
        _print_started(cluster)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except (LauncherError, DiskError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    finally:
        if controls is not None:
            controls.shutdown()  # no node control may race the close below
            controls.server_close()
        cluster.close()
        if disks is not None:
            disks.close()  # after the nodes: they hold their files open
        state.remove(os.getpid())
    console.print("cluster stopped")


def down() -> None:
    """Stop the cluster started by `faultlab up --detach` (or `faultlab compose up`, or
    `faultlab swarm up`)."""
    st = cluster_state()
    if st.swarm_project:
        from cluster.cli.swarm import down_swarm  # the Docker SDK, for swarms only

        down_swarm(st)
        state.state_path().unlink(missing_ok=True)
        console.print(f"swarm {st.swarm_project!r} removed, volumes included")
        return
    if st.compose_project:
        from cluster.cli.compose import down_compose  # the Docker SDK, for compose only

        down_compose(st)
        state.state_path().unlink(missing_ok=True)
        console.print(f"compose project {st.compose_project!r} removed, volumes included")
        return
    os.kill(st.supervisor_pid, signal.SIGTERM)
    try:
        wait_until(lambda: not _alive(st.supervisor_pid), 30.0, "the cluster to stop")
    except WaitTimeout:
        os.kill(st.supervisor_pid, signal.SIGKILL)
    console.print(f"cluster stopped (run folder: {st.run_dir})")


UI_LINE = f"in a browser: `faultlab ui` serves {ui_url()}"


# -- rendering --------------------------------------------------------------------------


def _wait_led(cluster: LocalCluster) -> None:
    """`up` returns a cluster whose every group is led: a client's first call, or a chaos
    probe asking who leads, must not meet an election still running."""
    try:
        admin_client.wait_all_led(cluster.topology)
    except WaitTimeout as e:
        raise LauncherError(str(e)) from e


def _print_started(cluster: LocalCluster) -> None:
    topo = cluster.topology
    table = Table(title="faultlab cluster")
    for col in ("node", "group", "pid", "listen", "clients dial", "metrics"):
        table.add_column(col)
    for n in topo.nodes:
        table.add_row(
            n.id,
            n.group,
            str(cluster.pid(n.id)),
            topo.listen_address(n.id),
            topo.client_address(n.id),
            f"http://{topo.address(n.metrics_port)}/metrics",
        )
    console.print(table)
    console.print(f"Toxiproxy API: http://{cluster.toxiproxy_api}   logs: {cluster.run_dir}/logs")
    console.print(etcd_endpoints_line(topo))
    console.print(kafka_bootstrap_line(topo))
    console.print(UI_LINE)
    if cluster.tls_dir is not None:
        d = cluster.tls_dir
        console.print(
            f"mutual TLS: other clients present {d}/client.pem with {d}/client.key "
            f"and trust {d}/ca.pem (grpcurl -cacert -cert -key -authority faultlab)"
        )
    console.print("Ctrl-C stops the cluster.")


# -- helpers ----------------------------------------------------------------------------


def _refuse_second_cluster() -> None:
    try:
        st = state.read()
    except state.NoCluster:
        return
    pid = st.supervisor_pid
    err.print(f"[red]error:[/] a cluster is already running (pid {pid}); `faultlab down` first")
    raise typer.Exit(1)


def _up_detached(
    topology: Path, run_dir: Path, lazy_disks: bool, tls: bool, clocks: bool, peer_transport: str
) -> None:
    log_path = state.state_dir() / "up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "cluster",
        "up",
        "--topology",
        str(topology),
        "--run-dir",
        str(run_dir),
        *(["--lazy-disks"] if lazy_disks else []),
        *(["--tls"] if tls else []),
        *(["--clocks"] if clocks else []),
        *["--peer-transport", peer_transport],
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def started() -> bool:
        if proc.poll() is not None:
            err.print(f"[red]error:[/] the cluster did not start:\n{tail(log_path)}")
            raise typer.Exit(1)
        try:
            return state.read().supervisor_pid == proc.pid
        except state.NoCluster:
            return False

    with console.status("starting the cluster in the background..."):
        wait_until(started, 90.0, "the cluster to start", interval_s=0.2)
    console.print(
        f"cluster running (supervisor pid {proc.pid}); `faultlab status`, `faultlab down`"
    )
    console.print(UI_LINE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
