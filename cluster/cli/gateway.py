"""`faultlab gateway ...`: the gateway replicas' view of each tenant's limits."""

from __future__ import annotations

import grpc
import typer
from faultlab.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from rich.console import Console
from rich.table import Table

from cluster.cli.current import cluster_state
from cluster.client.gateway import GATEWAY_GROUP
from services.runtime import tls

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _limits(address: str) -> gateway_pb2.LimitsResponse:
    with tls.sync_channel(address) as channel:
        reply: gateway_pb2.LimitsResponse = gateway_pb2_grpc.GatewayStub(channel).Limits(
            gateway_pb2.LimitsRequest(), timeout=2.0
        )
        return reply


@app.command()
def limits() -> None:
    """Per tenant and gateway replica: algorithm, limit, remaining, reset; calls in flight."""
    topology = cluster_state().topology()
    try:
        nodes = topology.group_nodes(GATEWAY_GROUP)
    except ValueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    rates = Table("gateway", "tenant", "policy", "algorithm", "limit", "remaining", "reset (s)")
    flights = Table("gateway", "tenant", "in flight", "cap")
    for node in nodes:
        try:
            reply = _limits(topology.listen_address(node.id))
        except grpc.RpcError as e:
            err.print(f"[red]{node.id}:[/] {e.code().name}")
            continue
        for r in reply.rates:
            rates.add_row(
                node.id,
                r.tenant,
                r.policy,
                r.algorithm,
                str(r.limit),
                str(r.remaining),
                f"{r.reset_s:.2f}",
            )
        for c in reply.concurrency:
            flights.add_row(node.id, c.tenant, str(c.in_flight), str(c.cap))
        flights.add_row(node.id, "(all: shedder)", str(reply.in_flight), str(reply.capacity))
    console.print(rates)
    console.print(flights)
