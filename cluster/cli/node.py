"""`faultlab node kill|stop|start|restart|pause|resume NODE`: one node's process, on the
local cluster (through the supervisor that owns the processes) or the compose one (through
the Docker engine), by the same code the nemesis uses (cluster/node_control.py)."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console

from cluster import state
from cluster.backend import ProcessState
from cluster.cli.current import cluster_state
from cluster.node_control import VERBS, NodeControlError, control_node
from cluster.supervisor import SupervisorClient, SupervisorError

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

HELP = {
    "kill": "SIGKILL the node: no clean-up, nothing unflushed survives.",
    "stop": "SIGTERM the node: a leader hands over first, then it exits.",
    "start": "Start a stopped node again; returns once it serves.",
    "restart": "Stop the node, then start it; a stopped node just starts.",
    "pause": "SIGSTOP the node (docker pause): frozen, as in a long GC pause.",
    "resume": "SIGCONT a paused node (docker unpause).",
}


def apply(st: state.ClusterState, verb: str, node_id: str) -> str:
    if st.swarm_project:
        from cluster.cli.swarm import swarm_cluster  # the Docker SDK, for swarms only

        with swarm_cluster(st) as swarm:
            return control_node(swarm, verb, node_id)
    if st.compose_project:
        from cluster.cli.compose import compose_cluster  # the Docker SDK, for compose only

        with compose_cluster(st) as cluster:
            return control_node(cluster, verb, node_id)
    return _supervisor(st).control(verb, node_id)


def process_states(st: state.ClusterState) -> dict[str, ProcessState]:
    """How each node's process is (running, paused, stopped), as its backend sees it."""
    if st.swarm_project:
        from cluster.cli.swarm import swarm_cluster

        with swarm_cluster(st) as swarm:
            return {n.id: swarm.process_state(n.id) for n in swarm.topology.nodes}
    if st.compose_project:
        from cluster.cli.compose import compose_cluster

        with compose_cluster(st) as cluster:
            return {n.id: cluster.process_state(n.id) for n in cluster.topology.nodes}
    return _supervisor(st).states()


def _supervisor(st: state.ClusterState) -> SupervisorClient:
    if not st.supervisor_socket:
        raise SupervisorError(
            "this cluster's supervisor serves no node controls (an older faultlab started "
            "it): `faultlab down`, then `faultlab up`"
        )
    return SupervisorClient(st.supervisor_socket)


def _command(verb: str) -> Callable[[str], None]:
    def command(node: str = typer.Argument(..., help="a node of the topology, e.g. kv1")) -> None:
        st = cluster_state()
        try:
            with console.status(f"{verb} {node}..."):
                done = apply(st, verb, node)
        except (NodeControlError, SupervisorError, RuntimeError) as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(1) from e
        console.print(done)

    command.__doc__ = HELP[verb]
    return command


for _verb in VERBS:
    app.command(_verb)(_command(_verb))
