"""The `faultlab` command line. Each command's module is imported only when that command
runs (cluster/cli/lazy.py), so a quick command answers at once."""

from __future__ import annotations

import typer

from cluster.cli.lazy import Lazy, lazy_group

COMMANDS = {
    "up": Lazy("cluster.cli.lifecycle", "up", "Start Toxiproxy and every node."),
    "down": Lazy("cluster.cli.lifecycle", "down", "Stop the running cluster."),
    "status": Lazy(
        "cluster.cli.status",
        "status",
        "Each node, each Raft group's roles and terms, who can reach whom.",
    ),
    "node": Lazy(
        "cluster.cli.node", "app", "Kill, stop, start, restart, pause or resume one node."
    ),
    "net": Lazy("cluster.cli.net", "app", "Inject network faults through Toxiproxy."),
    "disk": Lazy("cluster.cli.disk", "app", "Slow or failing disks (faultlab up --lazy-disks)."),
    "clock": Lazy("cluster.cli.clock", "app", "Skew or heal node clocks (faultlab up --clocks)."),
    "kv": Lazy("cluster.cli.kv", "app", "Read and write the replicated KV store."),
    "lock": Lazy("cluster.cli.lock", "app", "Take, release and inspect locks and sessions."),
    "log": Lazy("cluster.cli.log", "app", "Topics, produce and consume on the log broker."),
    "gateway": Lazy("cluster.cli.gateway", "app", "The gateway replicas' per-tenant limits."),
    "chaos": Lazy("cluster.cli.chaos", "app", "Run failure experiments and judge them."),
    "ui": Lazy("cluster.cli.ui.command", "ui", "Serve the lab in a browser (127.0.0.1:8089)."),
    "compose": Lazy(
        "cluster.cli.compose", "app", "Render docker-compose.yml from the topology; run it."
    ),
    "k8s": Lazy("cluster.cli.k8s", "app", "Kubernetes manifests for the topology; validate them."),
    "swarm": Lazy(
        "cluster.cli.swarm", "app", "A real three-node Docker Swarm running the topology."
    ),
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    help="faultlab: a lab for distributed-systems failures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Typer makes a group only of an app with a callback or commands of its own; every
    command here is lazy, so this empty callback makes `faultlab` the group."""


def main() -> None:
    app()
