"""etcdctl, the real one (Debian's etcd-client), run against faultlab's KV nodes or a real
etcd: endpoints of either, its output and exit code as a user sees them."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.launcher import LocalCluster
from cluster.waiting import wait_until

REQUIRE_ENV = "FAULTLAB_REQUIRE_ETCD"  # CI sets it: missing etcd tools fail, not skip
COMMAND_S = 30.0


def tool(name: str) -> str:
    """The installed `name`, or the test skipped (failed where REQUIRE_ENV is set)."""
    found = shutil.which(name)
    if found is None:
        why = f"{name} is not installed: `make setup` installs Debian's etcd-client and etcd-server"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(why)
        pytest.skip(why)
    return found


def endpoints(cluster: LocalCluster) -> list[str]:
    """Each KV node's client link: where etcd clients dial it."""
    topology = cluster.topology
    return [topology.client_address(n.id) for n in topology.nodes if n.group == "kv"]


@dataclass(frozen=True)
class Etcdctl:
    endpoints: str  # comma-separated

    def on(self, endpoint: str) -> Etcdctl:
        return Etcdctl(endpoint)

    def argv(self, *args: str) -> list[str]:
        return [tool("etcdctl"), f"--endpoints={self.endpoints}", *args]

    def run(self, *args: str, stdin: str = "", check: bool = True) -> str:
        """Its output (stdout, then stderr without the client's retry log lines)."""
        done = subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_S,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        errors = [line for line in done.stderr.splitlines() if not line.startswith('{"level"')]
        out = done.stdout + "".join(f"{line}\n" for line in errors)
        if check and done.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} exited {done.returncode}: {out}")
        return out

    def start(self, *args: str) -> Running:
        """A long-running etcdctl (watch, lock, elect); stop it with `stop()`."""
        return Running(self.argv(*args))


class Running:
    """An etcdctl that runs on: its output gathered as it comes. Its stdin stays open,
    for etcdctl watch ends when stdin does and it is not a terminal."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        self.lines: list[str] = []
        self.logged: list[str] = []  # the client's own log lines (JSON), kept apart
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            kept = self.logged if line.startswith('{"level"') else self.lines
            kept.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, lines: list[str], timeout_s: float = COMMAND_S) -> None:
        """Until `lines` appear in its output, in a row."""

        def shown() -> bool:
            got = list(self.lines)
            return any(got[i : i + len(lines)] == lines for i in range(len(got)))

        wait_until(
            shown,
            timeout_s,
            f"{Path(self.process.args[0]).name} to print {lines} (it printed {self.lines})",
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(10)
        self._reader.join(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()
