"""The bootstrap every faultlab node runs: one grpc.aio server and its lifecycle.

    def main() -> int:
        return server.main(setup=my_service_setup)

What every node gets, whatever its service:
- the standard gRPC health service and server reflection (`grpcurl -plaintext ADDR list`);
- the admin service with live peer-connectivity probes;
- Prometheus metrics at http://METRICS_ADDR/metrics;
- SIGTERM / SIGINT -> health NOT_SERVING -> the service hands over (a Raft leader
  transfers leadership) -> lame duck: clients still calling are redirected until they
  fall quiet (`activity.py`) -> the service closes -> `server.stop(grace)`;
- every `ServiceError` a handler raises -> its gRPC status and reason (`status.py`);
- bad configuration (unknown node, port in use, malformed topology) -> one line, exit 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import grpc
from faultlab.admin.v1 import admin_pb2, admin_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from services.runtime import config as config_mod
from services.runtime import logs, metrics, tls
from services.runtime.activity import ClientActivity
from services.runtime.admin import VERSION, AdminServicer
from services.runtime.config import EXIT_BAD_CONFIG, ConfigError, NodeConfig
from services.runtime.grpc_options import SERVER_OPTIONS
from services.runtime.probe import ConnectivityProber
from services.runtime.status import ErrorMapping

log = logging.getLogger("faultlab.node")

# In-flight unary calls get this long to finish; Raft's long-lived peer streams never
# finish on their own, so a longer grace would only delay every stop by its full length.
STOP_GRACE_S = 1.0
# A replicated service hands leadership over and lets in-flight writes finish first.
HAND_OVER_BUDGET_S = 2.5
SERVICE_CLOSE_S = 2.0
# Lame duck: serve (redirecting) until no client called for QUIET_S, at most LAME_DUCK_S.
# A leader-following client calls again within its own pacing, far below QUIET_S.
QUIET_S = 0.25
LAME_DUCK_S = 1.0


@dataclass
class NodeContext:
    """What a service's setup receives to register itself on the node."""

    config: NodeConfig
    server: grpc.aio.Server
    admin: AdminServicer


@dataclass
class ServiceHandle:
    """What a service's setup returns: the names it serves, and how it stops."""

    service_names: Sequence[str] = ()  # for clients: their calls keep a lame duck serving
    peer_service_names: Sequence[str] = ()  # for other nodes (Raft)
    # On SIGTERM, while the node still serves: hand its duties to other nodes, so that
    # from then on its answers to clients are definite redirects.
    hand_over: Callable[[], Awaitable[None]] | None = None
    # After the lame duck: release what the service holds. The server still answers
    # (a stopped Raft group's follower state still names the leader) until it stops.
    close: Callable[[], Awaitable[None]] | None = None


ServiceSetup = Callable[[NodeContext], Awaitable[ServiceHandle]]


async def serve(cfg: NodeConfig, setup: ServiceSetup | None = None) -> None:
    tls.act_as(cfg.node_id)  # the certificate it presents when it dials a peer
    activity = ClientActivity()
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=[activity, ErrorMapping()])
    health_servicer = health.aio.HealthServicer()
    prober = ConnectivityProber(  # a gateway's backends count as peers: it depends on them
        cfg.node_id,
        {**cfg.peers, **cfg.backends},
        cfg.probe_interval_ms / 1000,
        cfg.probe_timeout_ms / 1000,
    )
    admin = AdminServicer(cfg.node_id, cfg.group, prober)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    admin_pb2_grpc.add_AdminServicer_to_server(admin, server)
    handle = await setup(NodeContext(cfg, server, admin)) if setup else ServiceHandle()
    names = [
        admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
        *handle.service_names,
        *handle.peer_service_names,
    ]
    activity.watch(handle.service_names)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    _bind(server, cfg.listen, cfg.node_id)
    _start_metrics(cfg)
    await server.start()
    prober.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    logs.event(
        log,
        "serving",
        listen=cfg.listen,
        metrics=cfg.metrics,
        peers=cfg.peers,
        pid=os.getpid(),
        raft_transport=cfg.peer_transport if cfg.raft_listen else "",
        raft_listen=cfg.raft_listen,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    logs.event(log, "stopping", grace_s=STOP_GRACE_S)
    clean = await _bounded("health", health_servicer.enter_graceful_shutdown(), 1.0)
    clean &= await _bounded("probes", prober.stop(), 1.0)
    if handle.hand_over:
        clean &= await _bounded("hand_over", handle.hand_over(), HAND_OVER_BUDGET_S)
        calls = activity.calls
        quiet = await activity.until_quiet(QUIET_S, LAME_DUCK_S)
        logs.event(log, "lame_duck_done", quiet=quiet, client_calls=activity.calls - calls)
    if handle.close:
        clean &= await _bounded("service", handle.close(), SERVICE_CLOSE_S)
    clean &= await _bounded("grpc_server", server.stop(STOP_GRACE_S), STOP_GRACE_S + 1.0)
    logs.event(log, "stopped", clean=clean)
    if not clean:
        # A step ignored its cancellation; the event loop's own clean-up would wait on it
        # forever. Everything durable was flushed by the steps that did finish.
        logging.shutdown()
        os._exit(0)


async def _bounded(step: str, work: Awaitable[object], timeout_s: float) -> bool:
    """One shutdown step, given `timeout_s`. SIGTERM must end the process within its grace
    period whatever a step does, so an overrun is logged at ERROR (naming the step, to be
    fixed) and shutdown goes on."""
    task = asyncio.ensure_future(work)
    started = time.monotonic()
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    logs.event(log, "shutdown_step", step=step, seconds=round(time.monotonic() - started, 3))
    if not done:
        logs.event(log, "shutdown_step_timeout", logging.ERROR, step=step, timeout_s=timeout_s)
        task.cancel()
        return False
    return True


def _bind(server: grpc.aio.Server, listen: str, node_id: str) -> None:
    try:
        credentials = tls.server_credentials(node_id)
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as e:
        raise ConfigError(f"cannot listen on {listen}: {e} (is the port in use?)") from e
    if port == 0:
        raise ConfigError(f"cannot listen on {listen} (is the port in use?)")


def _start_metrics(cfg: NodeConfig) -> None:
    host, port = cfg.metrics.rsplit(":", 1)
    try:
        start_http_server(int(port), addr=host)
    except OSError as e:
        raise ConfigError(f"cannot serve metrics on {cfg.metrics}: {e.strerror}") from e
    metrics.NODE_INFO.info({"node": cfg.node_id, "group": cfg.group, "version": VERSION})
    metrics.UPTIME_START.set(time.time())


def main(
    setup: ServiceSetup | None = None,
    argv: Sequence[str] | None = None,
    prog: str = "faultlab-node",
) -> int:
    """Parse the configuration, run the node until SIGTERM, and return the exit code."""
    try:
        cfg = config_mod.parse(sys.argv[1:] if argv is None else argv, prog)
        logs.configure(cfg.node_id)
        _run(serve(cfg, setup))
    except ConfigError as e:
        print(f"{prog}: configuration error: {e}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    return 0


def _run(coro: Awaitable[None]) -> None:
    try:
        import uvloop
    except ImportError:  # uvloop is optional: its absence costs speed, not function
        asyncio.run(coro)  # type: ignore[arg-type]
    else:
        uvloop.run(coro)  # type: ignore[arg-type]
