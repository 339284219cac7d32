"""`LocalCluster`: Toxiproxy plus one OS process per node, on this machine.

The one launcher behind the tests, the CLI and the chaos experiments:

    with LocalCluster(Topology.from_file("topology.toml"), run_dir) as cluster:
        cluster.kill("kv1"); cluster.restart("kv1")
        cluster.pause("kv2"); cluster.resume("kv2")

`start()` starts Toxiproxy, creates every link (one proxy per ordered pair of nodes of a
group, one client->node proxy per node), starts every node, and waits until each one's
gRPC health check says SERVING. Logs go to RUN_DIR/logs/NODE.log. `close()` stops
everything, and runs also when start fails, on Ctrl-C, and at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster import clocks, processes
from cluster.backend import DerivedControls, ProcessState, Run
from cluster.ports import free_port_block
from cluster.tls import make_cluster_tls
from cluster.toxiproxy import ProxySpec, ToxiproxyClient
from cluster.waiting import WaitTimeout, wait_until
from services.runtime import tls
from services.runtime.config import PEER_TRANSPORT_ENV, PEER_TRANSPORTS
from services.runtime.registry import service
from services.runtime.tls import TLS_DIR_ENV
from services.runtime.topology import Node, Topology

REPO_ROOT = Path(__file__).resolve().parents[1]
TOXIPROXY_ENV = "FAULTLAB_TOXIPROXY"


class LauncherError(RuntimeError):
    """The cluster could not be started or controlled; the message names the node."""


def find_toxiproxy() -> str:
    """The toxiproxy-server binary: $FAULTLAB_TOXIPROXY, then .tools/bin, then PATH."""
    explicit = os.environ.get(TOXIPROXY_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise LauncherError(f"{TOXIPROXY_ENV}={explicit} is not an executable file")
        return explicit
    local = REPO_ROOT / ".tools" / "bin" / "toxiproxy-server"
    if os.access(local, os.X_OK):
        return str(local)
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return on_path
    raise LauncherError(
        "toxiproxy-server not found. Run `make setup` (builds it with Go into .tools/bin), "
        f"or point {TOXIPROXY_ENV} at a toxiproxy-server binary "
        "(https://github.com/Shopify/toxiproxy/releases)."
    )


def node_data_dir(run_dir: Path, node_id: str) -> Path:
    """Where a node of a cluster run in `run_dir` keeps its data (a disk mounts here)."""
    return Path(run_dir) / "data" / node_id


@dataclass
class _Running:
    node: Node
    proc: subprocess.Popen[bytes]
    paused: bool = False


class LocalCluster(DerivedControls):
    def __init__(
        self,
        topology: Topology,
        run_dir: Path | None = None,
        *,
        toxiproxy_bin: str | None = None,
        node_env: dict[str, str] | None = None,
        startup_timeout_s: float = 30.0,
        modules: dict[str, str] | None = None,
        tls: bool = False,
        fake_clocks: bool = False,
        peer_transport: str | None = None,
    ) -> None:
        """`modules`: topology group -> the module its nodes run, instead of the service
        registry's (a test's own service on the chassis, say). `tls`: a CA and certificates
        of its own (RUN_DIR/tls), mutual TLS on every connection; while the cluster runs,
        this process's FAULTLAB_TLS_DIR names them, so its clients follow. `fake_clocks`:
        each node runs under libfaketime with a clock that clock faults can skew
        (cluster/clocks.py). `peer_transport`: what carries Raft messages (tcp or grpc);
        by default FAULTLAB_PEER_TRANSPORT's, as the nodes would read it."""
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix="faultlab-")).absolute()
        self.topology = topology
        self._toxiproxy_bin = toxiproxy_bin
        self._node_env = dict(node_env or {})
        self.peer_transport = peer_transport or os.environ.get(
            PEER_TRANSPORT_ENV, PEER_TRANSPORTS[0]
        )
        self._node_env[PEER_TRANSPORT_ENV] = self.peer_transport
        self._startup_timeout_s = startup_timeout_s
        self._modules = modules or {}
        self.fake_clocks = fake_clocks
        self.tls_dir: Path | None = self.run_dir / "tls" if tls else None
        self._tls_env_before: str | None = None
        self._toxiproxy_proc: subprocess.Popen[bytes] | None = None
        # Every process is started from one thread that lives exactly as long as the
        # cluster, so any thread may call start_node / restart (processes.Spawner).
        self._spawner = processes.Spawner()
        self._running: dict[str, _Running] = {}
        self._exit_codes: dict[str, int] = {}  # of nodes stopped or killed through here
        # Every pid ever started, so tests can prove none outlives the cluster.
        self.spawned_pids: list[int] = []
        self.toxiproxy: ToxiproxyClient | None = None
        _LIVE.add(self)

    # -- whole cluster ------------------------------------------------------------------

    def start(self) -> LocalCluster:
        try:
            if not self.topology.resolved:
                base = free_port_block(self.topology.port_span(), self.topology.host)
                self.topology = self.topology.with_base_port(base)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.topology_path.write_text(self.topology.to_toml())
            if self.fake_clocks:
                self._check_libfaketime()
            if self.tls_dir is not None:
                self._use_tls(self.tls_dir)
            self._start_toxiproxy()
            for node in self.topology.nodes:
                self._spawn(node)
            for node in self.topology.nodes:
                self.wait_serving(node.id)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every node, then Toxiproxy. Safe to call twice."""
        for node_id in list(self._running):
            self.stop(node_id)
        if self.toxiproxy is not None:
            self.toxiproxy.close()
            self.toxiproxy = None
        if self._toxiproxy_proc is not None:
            processes.terminate(self._toxiproxy_proc, grace_s=2.0)
            self._toxiproxy_proc = None
        self._spawner.close()
        if self.tls_dir is not None:
            _set_env(TLS_DIR_ENV, self._tls_env_before)

    def _use_tls(self, folder: Path) -> None:
        make_cluster_tls(folder, self.topology.node_ids)
        self._node_env[TLS_DIR_ENV] = str(folder)
        self._tls_env_before = os.environ.get(TLS_DIR_ENV)
        os.environ[TLS_DIR_ENV] = str(folder)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def topology_path(self) -> Path:
        return self.run_dir / "topology.toml"

    @property
    def toxiproxy_api(self) -> str:
        return self.topology.address(self.topology.toxiproxy_port)

    def log_path(self, node_id: str) -> Path:
        return self.run_dir / "logs" / f"{node_id}.log"

    def pids(self) -> dict[str, int]:
        """Every process this cluster has running now, Toxiproxy included."""
        out = {nid: r.proc.pid for nid, r in self._running.items() if r.proc.poll() is None}
        if self._toxiproxy_proc is not None and self._toxiproxy_proc.poll() is None:
            out["toxiproxy"] = self._toxiproxy_proc.pid
        return out

    # -- one node -----------------------------------------------------------------------

    def is_running(self, node_id: str) -> bool:
        r = self._running.get(node_id)
        return r is not None and r.proc.poll() is None

    def process_state(self, node_id: str) -> ProcessState:
        self.topology.node(node_id)  # unknown ids get the topology's clear error
        r = self._running.get(node_id)
        if r is None:
            return ProcessState(Run.STOPPED, self._exit_codes.get(node_id))
        code = r.proc.poll()
        if code is not None:  # ended on its own, or killed from outside (kill -9 PID)
            return ProcessState(Run.STOPPED, code)
        return ProcessState(Run.PAUSED if r.paused else Run.RUNNING)

    def returncode(self, node_id: str) -> int | None:
        """How `node_id`'s process ended, or None while it runs (or was never started)."""
        r = self._running.get(node_id)
        return None if r is None else r.proc.poll()

    def clock(self, node_id: str) -> clocks.NodeClock:
        """`node_id`'s clock, whose faults reach its process when fake_clocks is on."""
        self.topology.node(node_id)  # unknown ids get the topology's clear error
        return clocks.NodeClock(clocks.clocks_folder(self.run_dir), node_id)

    def pid(self, node_id: str) -> int:
        return self._get(node_id).proc.pid

    def start_node(self, node_id: str, wait: bool = True) -> None:
        if self.is_running(node_id):
            raise LauncherError(f"{node_id} is already running")
        self._spawn(self.topology.node(node_id))
        if wait:
            self.wait_serving(node_id)

    def stop(self, node_id: str, grace_s: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code."""
        r = self._running.pop(node_id, None)
        code = processes.terminate(r.proc, grace_s) if r else 0
        self._exit_codes[node_id] = code
        return code

    def kill(self, node_id: str) -> int:
        """kill -9: no clean-up, nothing unflushed survives."""
        r = self._running.pop(node_id, None)
        code = processes.kill(r.proc) if r else 0
        self._exit_codes[node_id] = code
        return code

    def pause(self, node_id: str) -> None:
        """SIGSTOP: the process freezes mid-flight, as in a long GC pause."""
        r = self._get(node_id)
        processes.stop(r.proc.pid)  # returns once it has stopped
        r.paused = True

    def resume(self, node_id: str) -> None:
        r = self._get(node_id)
        r.proc.send_signal(signal.SIGCONT)
        r.paused = False

    def wait_serving(self, node_id: str, timeout_s: float | None = None) -> None:
        """Poll the node's gRPC health until SERVING; fail fast if its process exits."""
        timeout_s = timeout_s or self._startup_timeout_s
        address = self.topology.listen_address(node_id)
        with tls.sync_channel(address, folder=self.tls_dir) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            def serving() -> bool:
                r = self._get(node_id)
                if r.proc.poll() is not None:
                    raise LauncherError(
                        f"{node_id} exited with code {r.proc.returncode} while starting; "
                        + self._log_tail(node_id)
                    )
                return _health_serving(stub)

            try:
                wait_until(serving, timeout_s, f"{node_id} to serve on {address}")
            except WaitTimeout as e:
                raise LauncherError(f"{e}; {self._log_tail(node_id)}") from e

    # -- internals ----------------------------------------------------------------------

    def _spawn_process(
        self, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self._spawner.spawn(argv, log, env)

    def _log_tail(self, node_id: str) -> str:
        path = self.log_path(node_id)
        return f"last lines of {path}:\n{processes.tail(path)}"

    def _get(self, node_id: str) -> _Running:
        self.topology.node(node_id)  # unknown ids get the topology's clear error
        r = self._running.get(node_id)
        if r is None:
            raise LauncherError(f"{node_id} is not running")
        return r

    @staticmethod
    def _check_libfaketime() -> None:
        """Refuse before anything starts if libfaketime is missing."""
        try:
            clocks.libfaketime()
        except clocks.ClockError as e:
            raise LauncherError(str(e)) from e

    def _spawn(self, node: Node) -> None:
        module = self._modules.get(node.group) or service(node.group).module
        argv = [
            sys.executable,
            "-m",
            module,
            "--topology",
            str(self.topology_path),
            "--node",
            node.id,
            "--data-dir",
            str(node_data_dir(self.run_dir, node.id)),
        ]
        env = {"PYTHONPATH": child_pythonpath(), **self._node_env}
        if self.fake_clocks:
            env |= self.clock(node.id).process_env()
        proc = self._spawn_process(argv, self.log_path(node.id), env)
        self.spawned_pids.append(proc.pid)
        self._running[node.id] = _Running(node, proc)

    def _start_toxiproxy(self) -> None:
        binary = self._toxiproxy_bin or find_toxiproxy()
        if not os.access(binary, os.X_OK):
            raise LauncherError(f"cannot run toxiproxy-server {binary!r}: not an executable file")
        argv = [binary, "-host", self.topology.host, "-port", str(self.topology.toxiproxy_port)]
        log = self.run_dir / "logs" / "toxiproxy.log"
        try:
            self._toxiproxy_proc = self._spawn_process(argv, log)
        except OSError as e:
            raise LauncherError(f"cannot run toxiproxy-server {binary!r}: {e.strerror}") from e
        self.spawned_pids.append(self._toxiproxy_proc.pid)
        self.toxiproxy = ToxiproxyClient(self.toxiproxy_api, timeout_s=5.0)

        def answering() -> bool:
            assert self._toxiproxy_proc is not None
            if self._toxiproxy_proc.poll() is not None:
                raise LauncherError(f"toxiproxy-server exited:\n{processes.tail(log)}")
            assert self.toxiproxy is not None
            return self.toxiproxy.answers()

        wait_until(answering, 10.0, f"Toxiproxy API at {self.toxiproxy_api}")
        self.toxiproxy.populate(
            [
                ProxySpec(
                    name=link.name,
                    listen=self.topology.address(link.listen_port),
                    upstream=self.topology.address(link.dst_port),
                )
                for link in self.topology.links
            ]
        )


def _health_serving(stub: health_pb2_grpc.HealthStub) -> bool:
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=0.5)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def child_pythonpath() -> str:
    """Nodes import this checkout's packages, also when it is not installed."""
    parts = [str(REPO_ROOT), str(REPO_ROOT / "proto"), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


# Clusters still open when the interpreter exits are closed, so none leaves orphans.
_LIVE: weakref.WeakSet[LocalCluster] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for cluster in list(_LIVE):
        cluster.close()
