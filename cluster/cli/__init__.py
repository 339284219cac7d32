"""The `faultlab` command line."""

from __future__ import annotations

import typer

from cluster.cli import lifecycle, net

app = typer.Typer(
    help="faultlab: a lab for distributed-systems failures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lifecycle.register(app)
app.add_typer(net.app, name="net", help="Inject network faults through Toxiproxy.")


def main() -> None:
    app()
