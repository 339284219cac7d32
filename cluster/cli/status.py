"""`faultlab status`: each node, each Raft group's roles and terms, who can reach whom,
and the lazy disks, of the cluster the CLI talks to."""

from __future__ import annotations

import time
from pathlib import Path

from faultlab.admin.v1 import admin_pb2
from rich.console import Console
from rich.table import Table

from chaos.disk.finding import disk_controls
from cluster import admin_client
from cluster.backend import ProcessState, Run
from cluster.cli.current import cluster_state
from cluster.cli.disk import disks_table
from cluster.cli.endpoints import etcd_endpoints_line, kafka_bootstrap_line
from cluster.cli.node import process_states
from cluster.clocks import ClockState, node_clocks
from cluster.state import ClusterState
from cluster.supervisor import SupervisorError
from services.raft.role import Role
from services.runtime.topology import Topology

console = Console()
err = Console(stderr=True)


def status() -> None:
    """Each node, each Raft group's roles and terms, and who can reach whom."""
    st = cluster_state()
    topo = st.topology()
    processes = _process_states(st)
    # A paused or stopped node is not asked: it could only time out.
    statuses = admin_client.fetch_all(
        topo, only=[n for n, p in processes.items() if p.run is Run.RUNNING]
    )
    clocks = {n: c.state() for n, c in node_clocks(Path(st.run_dir)).items()}
    console.print(_nodes_table(topo, statuses, processes, clocks))
    if any(not isinstance(s, str) and s.groups for s in statuses.values()):
        for table in _groups_tables(topo, statuses):
            console.print(table)
    for table in _reachability_tables(topo, statuses):
        console.print(table)
    controls = disk_controls(Path(st.run_dir))
    if controls:
        console.print(disks_table(controls))
    console.print(f"Toxiproxy API: http://{st.toxiproxy_api}   run folder: {st.run_dir}")
    console.print(etcd_endpoints_line(topo))
    console.print(kafka_bootstrap_line(topo))


def _process_states(st: ClusterState) -> dict[str, ProcessState]:
    """From the backend; every node counted as running when the backend cannot say."""
    try:
        return process_states(st)
    except (SupervisorError, RuntimeError) as e:
        err.print(f"[yellow]note:[/] cannot tell paused and stopped nodes apart: {e}")
        return {n.id: ProcessState(Run.RUNNING) for n in st.topology().nodes}


def _nodes_table(
    topo: Topology,
    statuses: dict[str, admin_pb2.NodeStatus | str],
    processes: dict[str, ProcessState],
    clocks: dict[str, ClockState],
) -> Table:
    table = Table(title="nodes")
    columns = ("node", "group", "state", "raft groups", "pid", "uptime")
    for col in columns + (("clock",) if clocks else ()):
        table.add_column(col)
    for n in topo.nodes:
        s = statuses.get(n.id, "")
        process = processes.get(n.id, ProcessState(Run.RUNNING))
        if process.run is not Run.RUNNING:
            colour = "yellow" if process.run is Run.PAUSED else "red"
            table.add_row(n.id, n.group, f"[{colour}]{process}[/]", "", "", "")
            continue
        if isinstance(s, str):
            table.add_row(n.id, n.group, f"[red]down ({s})[/]", "", "", "")
            continue
        led = sum(1 for g in s.groups if g.role == Role.LEADER)
        quiet = sum(1 for g in s.groups if g.quiet)
        hosted = f"{len(s.groups)} ({led} led, {quiet} quiet)" if s.groups else "-"
        row = [n.id, n.group, "[green]serving[/]", hosted, str(s.pid), f"{s.uptime_s:.0f}s"]
        if clocks:
            row.append(_clock_cell(clocks.get(n.id, ClockState()), s.wall_time_s))
        table.add_row(*row)
    return table


def _clock_cell(stated: ClockState, node_wall_s: float) -> str:
    """What the clock was told, and what the node itself said it read (give or take the
    time its answer took to arrive)."""
    if stated.healthy:
        return "real"
    return (
        f"[yellow]{stated.describe(time.time())}[/] (node read {node_wall_s - time.time():+.2f}s)"
    )


ROLE_MARK = {
    Role.STARTING: "[dim]S[/]",
    Role.FOLLOWER: "F",
    Role.PRE_CANDIDATE: "[yellow]P[/]",
    Role.CANDIDATE: "[yellow]C[/]",
    Role.LEADER: "[bold green]L[/]",
}


def role_mark(wire_role: int) -> str:
    """The mark for a role as the wire carries it; a newer node's unknown role by number."""
    try:
        return ROLE_MARK[Role(wire_role)]
    except ValueError:
        return f"?{wire_role}"


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
        table = Table(
            title=f"{group.name}: raft groups (role term/applied: L leader, "
            "F follower, P pre-candidate, C candidate, S starting; z: quiet)"
        )
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
                mark = role_mark(v.role) if v else ""
                quiet = " [dim]z[/]" if v and v.quiet else ""
                cells.append(f"{mark} {v.term}/{v.applied_index}{quiet}" if v else "")
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
        table = Table(
            title=f"{group.name}: reachability (row dials column, through its Toxiproxy link)"
        )
        table.add_column("from \\ to")
        for n in nodes:
            table.add_column(n.id)
        for src in nodes:
            s = statuses.get(src.id, "not running")
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
