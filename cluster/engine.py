"""A Docker engine to run the containers on: the one already reachable, or one of our own.

    with docker_engine(state_dir) as engine:
        engine.client.containers.list(); engine.env  # DOCKER_HOST for the docker CLI

An engine answering at DOCKER_HOST (or /var/run/docker.sock) is used and left alone.
Otherwise dockerd (Debian's docker.io) is started with its own socket, data and exec
folders under a fresh temporary folder, and on exit stopped and its folders removed:
nothing of it outlives the block. It runs with `--bridge=none` (compose makes its own
networks, and removes them on `down`), so no docker0 bridge is left behind either.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from cluster import processes
from cluster.waiting import WaitTimeout, wait_until

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class EngineError(RuntimeError):
    """No Docker engine could be reached or started; the message says what is missing."""


@dataclass
class Engine:
    client: docker.DockerClient
    host: str  # what DOCKER_HOST must be for the docker CLI and compose to reach it
    own: bool  # started here (and stopped at the end of the block)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}


def _reachable() -> Engine | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not listening(host):
        return None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException:
        return None
    return Engine(client, host, own=False)


def listening(host: str) -> bool:
    """Knock on a unix:// engine socket first: a Docker client made while nothing
    listens there leaks its failed connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as knock:
        try:
            knock.connect(host.removeprefix("unix://"))
        except OSError:
            return False
    return True


def answering_engine() -> Engine | None:
    """The engine DOCKER_HOST (or /var/run/docker.sock) answers on, or None."""
    return _reachable()


def reachable_engine() -> Engine:
    """The engine DOCKER_HOST (or /var/run/docker.sock) answers on; the CLI's, which
    must outlive the command, so it never starts one of its own."""
    found = _reachable()
    if found is None:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineError(f"no Docker engine answers at {host}: start dockerd, or set DOCKER_HOST")
    return found


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    found = _reachable()
    if found is not None:
        yield found
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError(
            "no Docker engine is reachable and dockerd is not installed "
            "(Debian: apt-get install docker.io)"
        )
    if os.geteuid() != 0:
        raise EngineError("no Docker engine is reachable, and starting one needs root")
    # Short: containerd's sockets live under the exec root, and a Unix socket path is
    # limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="fl-dockerd-", dir="/tmp"))
    host = f"unix://{root}/docker.sock"
    argv = [
        dockerd,
        "--host",
        host,
        "--data-root",
        str(root / "data"),
        "--exec-root",
        str(root / "exec"),
        "--pidfile",
        str(root / "docker.pid"),
        "--bridge",
        "none",
    ]
    spawner = processes.Spawner()
    proc = spawner.spawn(argv, root / "dockerd.log")
    client: docker.DockerClient | None = None
    try:
        try:
            client = wait_until(lambda: _client(host, proc), START_TIMEOUT_S, "dockerd")
        except (WaitTimeout, EngineError) as e:
            raise EngineError(
                f"{e}; last lines of {root}/dockerd.log:\n{processes.tail(root / 'dockerd.log')}"
            ) from e
        yield Engine(client, host, own=True)
    finally:
        if client is not None:
            client.close()
        processes.terminate(proc, grace_s=STOP_TIMEOUT_S)
        spawner.close()
        _remove(root)


def _client(host: str, proc: subprocess.Popen[bytes]) -> docker.DockerClient | None:
    """A client once dockerd answers (making one asks the engine for its API version)."""
    if proc.poll() is not None:
        raise EngineError(f"dockerd exited with {proc.returncode}")
    if not listening(host):
        return None
    try:
        return docker.DockerClient(base_url=host, timeout=120)
    except docker.errors.DockerException:
        return None


def _remove(root: Path) -> None:
    """dockerd unmounts its overlays when it stops; anything still mounted (a crash)
    is detached first, so the folder can go."""
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f if line.split()[1].startswith(str(root))]
    for point in sorted(mounted, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
