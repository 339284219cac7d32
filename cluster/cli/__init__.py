"""The `faultlab` command line."""

from __future__ import annotations

import typer

from cluster.cli import chaos, compose, disk, gateway, kv, lifecycle, lock, log, net

app = typer.Typer(
    help="faultlab: a lab for distributed-systems failures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lifecycle.register(app)
app.add_typer(net.app, name="net", help="Inject network faults through Toxiproxy.")
app.add_typer(disk.app, name="disk", help="Slow or failing disks (faultlab up --lazy-disks).")
app.add_typer(kv.app, name="kv", help="Read and write the replicated KV store.")
app.add_typer(lock.app, name="lock", help="Take, release and inspect locks and sessions.")
app.add_typer(log.app, name="log", help="Topics, produce and consume on the log broker.")
app.add_typer(gateway.app, name="gateway", help="The gateway replicas' per-tenant limits.")
app.add_typer(chaos.app, name="chaos", help="Run failure experiments and judge them.")
app.add_typer(compose.app, name="compose", help="Render docker-compose.yml from the topology.")


def main() -> None:
    app()
