"""`faultlab up`, `down` and `status`: run a local cluster and look at it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import typer
from faultlab.admin.v1 import admin_pb2
from rich.console import Console
from rich.table import Table

from chaos.disk.mounts import DiskError
from chaos.disk.nodes import NodeDisks, disk_controls
from cluster import admin_client, state
from cluster.cli.compose import down_compose
from cluster.cli.disk import disks_table
from cluster.launcher import LauncherError, LocalCluster
from cluster.processes import tail
from cluster.waiting import WaitTimeout, wait_until
from services.runtime.topology import Topology, TopologyError

console = Console()
err = Console(stderr=True)

TopologyOption = typer.Option(Path("topology.toml"), "--topology", "-t", help="topology TOML file")


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(down)
    app.command()(status)


def up(
    topology: Path = TopologyOption,
    detach: bool = typer.Option(False, "--detach", "-d", help="run in the background"),
    run_dir: Path | None = typer.Option(None, help="where logs and data go"),
    lazy_disks: bool = typer.Option(
        False, "--lazy-disks", help="each node's data on a lazy disk (FUSE): disk faults"
    ),
) -> None:
    """Start Toxiproxy and every node; Ctrl-C (or `faultlab down`) stops them all."""
    topo = _load_topology(topology)
    _refuse_second_cluster()
    run_dir = (run_dir or state.state_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")).absolute()
    if detach:
        _up_detached(topology, run_dir, lazy_disks)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = LocalCluster(topo, run_dir)
    disks = NodeDisks(run_dir, topo.node_ids) if lazy_disks else None
    try:
        with console.status(f"starting {len(topo.nodes)} nodes and Toxiproxy..."):
            if disks is not None:
                disks.mount()
            cluster.start()
        state.write(
            state.ClusterState(
                supervisor_pid=os.getpid(),
                run_dir=str(run_dir),
                topology_path=str(cluster.topology_path),
                toxiproxy_api=cluster.toxiproxy_api,
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
        cluster.close()
        if disks is not None:
            disks.close()  # after the nodes: they hold their files open
        state.remove(os.getpid())
    console.print("cluster stopped")


def down() -> None:
    """Stop the cluster started by `faultlab up --detach` (or `faultlab compose up`)."""
    st = _read_state()
    if st.compose_project:
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


def status() -> None:
    """Each node, each Raft group's roles and terms, and who can reach whom."""
    st = _read_state()
    topo = st.topology()
    statuses = admin_client.fetch_all(topo)
    console.print(_nodes_table(topo, statuses))
    if any(not isinstance(s, str) and s.groups for s in statuses.values()):
        for table in _groups_tables(topo, statuses):
            console.print(table)
    for table in _reachability_tables(topo, statuses):
        console.print(table)
    controls = disk_controls(Path(st.run_dir))
    if controls:
        console.print(disks_table(controls))
    console.print(f"Toxiproxy API: http://{st.toxiproxy_api}   run folder: {st.run_dir}")


# -- rendering --------------------------------------------------------------------------


def _print_started(cluster: LocalCluster) -> None:
    topo = cluster.topology
    table = Table(title="faultlab cluster")
    for col in ("node", "group", "pid", "listen", "clients dial", "metrics"):
        table.add_column(col)
    for n in topo.nodes:
        table.add_row(
            n.id, n.group, str(cluster.pid(n.id)), topo.listen_address(n.id),
            topo.client_address(n.id), f"http://{topo.address(n.metrics_port)}/metrics",
        )  # fmt: skip
    console.print(table)
    console.print(f"Toxiproxy API: http://{cluster.toxiproxy_api}   logs: {cluster.run_dir}/logs")
    console.print("Ctrl-C stops the cluster.")


def _nodes_table(topo: Topology, statuses: dict[str, admin_pb2.NodeStatus | str]) -> Table:
    table = Table(title="nodes")
    for col in ("node", "group", "state", "raft groups", "pid", "uptime"):
        table.add_column(col)
    for n in topo.nodes:
        s = statuses[n.id]
        if isinstance(s, str):
            table.add_row(n.id, n.group, f"[red]down ({s})[/]", "", "", "")
            continue
        led = sum(1 for g in s.groups if g.role == "leader")
        hosted = f"{len(s.groups)} ({led} led)" if s.groups else "-"
        table.add_row(n.id, n.group, "[green]serving[/]", hosted, str(s.pid), f"{s.uptime_s:.0f}s")
    return table


_ROLE_MARK = {"leader": "[bold green]L[/]", "follower": "F", "candidate": "[yellow]C[/]",
              "pre_candidate": "[yellow]P[/]"}  # fmt: skip


def _groups_tables(topo: Topology, statuses: dict[str, admin_pb2.NodeStatus | str]) -> list[Table]:
    """Per topology group (kv, lock, log), one row per Raft group its nodes host and one
    column per node: role, term, applied index. Rows, not columns, grow with the Raft
    groups, so a log node with many partitions stays readable."""
    seen: dict[str, dict[str, admin_pb2.RaftGroupStatus]] = {}
    for node_id, s in statuses.items():
        for g in [] if isinstance(s, str) else s.groups:
            seen.setdefault(g.group, {})[node_id] = g
    tables = []
    for group in topo.groups:
        nodes = [n.id for n in topo.group_nodes(group.name)]
        rafts = sorted(r for r, views in seen.items() if set(views) & set(nodes))
        if not rafts:
            continue
        table = Table(title=f"{group.name}: raft groups (role term/applied: L leader, "
                      "F follower, C candidate)")  # fmt: skip
        table.add_column("raft group", no_wrap=True)
        table.add_column("leader")
        for node_id in nodes:
            table.add_column(node_id)
        for raft in rafts:
            views = seen[raft]
            leaders = {v.leader_id for v in views.values() if v.leader_id}
            leader = ", ".join(sorted(leaders)) if leaders else "[red]none[/]"
            cells = []
            for node_id in nodes:
                v = views.get(node_id)
                mark = _ROLE_MARK.get(v.role, v.role) if v else ""
                cells.append(f"{mark} {v.term}/{v.applied_index}" if v else "")
            table.add_row(raft, leader, *cells)
        tables.append(table)
    return tables


def _reachability_tables(
    topo: Topology, statuses: dict[str, admin_pb2.NodeStatus | str]
) -> list[Table]:
    """Per topology group (only its nodes are peers): row dials column."""
    tables = []
    for group in topo.groups:
        nodes = topo.group_nodes(group.name)
        table = Table(title=f"{group.name}: reachability (row dials column, through its "
                      "Toxiproxy link)")  # fmt: skip
        table.add_column("from \\ to")
        for n in nodes:
            table.add_column(n.id)
        for src in nodes:
            s = statuses[src.id]
            probes = {} if isinstance(s, str) else {p.node_id: p for p in s.peers}
            table.add_row(src.id, *(_probe_cell(src.id, dst.id, probes) for dst in nodes))
        tables.append(table)
    return tables


def _probe_cell(src: str, dst: str, probes: dict[str, admin_pb2.PeerReachability]) -> str:
    if dst == src:
        return "·"
    if dst not in probes:
        return "[yellow]?[/]"
    if probes[dst].reachable:
        return f"[green]✓ {probes[dst].rtt_ms:.1f}ms[/]"
    return f"[red]✗ {probes[dst].last_error.split(':')[0]}[/]"


# -- helpers ----------------------------------------------------------------------------


def _load_topology(path: Path) -> Topology:
    try:
        return Topology.from_file(path)
    except TopologyError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e


def _read_state() -> state.ClusterState:
    try:
        return state.read()
    except state.NoCluster as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e


def _refuse_second_cluster() -> None:
    try:
        st = state.read()
    except state.NoCluster:
        return
    pid = st.supervisor_pid
    err.print(f"[red]error:[/] a cluster is already running (pid {pid}); `faultlab down` first")
    raise typer.Exit(1)


def _up_detached(topology: Path, run_dir: Path, lazy_disks: bool) -> None:
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
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
