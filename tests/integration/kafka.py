"""Kafka clients, the real ones, against faultlab's log nodes: kcat (Debian's, librdkafka
inside) and the Python clients, each in a process of its own."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.history import History, Operation, pair
from chaos.locking import replay
from chaos.pytest_plugin import make_cluster, running
from cluster import kafka_peer
from cluster.launcher import LocalCluster
from services.log.kafka.door import INITIAL_DELAY_ENV
from services.runtime.topology import Group
from tests.integration.go_clients import go_program

REQUIRE_ENV = "FAULTLAB_REQUIRE_KAFKA"  # CI sets it: a missing kcat fails, not skips
COMMAND_S = 60.0
ROOT = Path(__file__).resolve().parents[2]


def kcat_path() -> str:
    """The installed kcat, or the test skipped (failed where REQUIRE_ENV is set)."""
    found = shutil.which("kcat")
    if found is None:
        missing("kcat is not installed: `make setup` installs Debian's kcat")
    assert found is not None
    return found


def real_kafka() -> None:
    """Apache Kafka's jars and a JDK are here, or the test is skipped (failed where
    REQUIRE_ENV is set)."""
    why = kafka_peer.installed()
    if why is not None:
        missing(why)


def missing(why: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(why)
    pytest.skip(why)


@contextlib.contextmanager
def kafka_cluster(tmp_path: Path, nodes: int = 3, **env: str) -> Iterator[LocalCluster]:
    """A log cluster whose groups form at once (Kafka's initial rebalance delay 0, as
    test brokers set it), with its metadata and coordinator groups led."""
    node_env = {INITIAL_DELAY_ENV: "0", **env}
    with running(make_cluster(tmp_path, (Group("log", nodes),), node_env=node_env)) as cluster:
        cluster.wait_for_leader(group="log/meta")
        cluster.wait_for_leader(group="log/groups")
        yield cluster


def bootstrap(cluster: LocalCluster) -> str:
    return ",".join(cluster.topology.wire_addresses("log"))


def kcat(cluster: LocalCluster, *args: str, stdin: str = "") -> str:
    """kcat's output (stdout); an AssertionError with its stderr if it fails."""
    done = subprocess.run(
        [kcat_path(), "-b", bootstrap(cluster), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_S,
    )
    if done.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


class Workload:
    """A Kafka client workload in its own process, its output in files (a pipe
    would fill and stall it); it runs until done, or until `stop()` closes its stdin."""

    def __init__(self, folder: Path, name: str, command: list[str]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._out = folder / f"{name}.jsonl"
        self._err = folder / f"{name}.err"
        with self._out.open("w") as out, self._err.open("w") as err:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                text=True,
                cwd=ROOT,
            )

    def stop(self) -> None:
        """Ask it to finish (a consumer commits and leaves its group)."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()

    def output(self, timeout_s: float) -> str:
        """What it wrote, once it has exited 0; its stderr in the failure otherwise."""
        self.process.wait(timeout_s)
        self.stop()
        assert self.process.returncode == 0, self._err.read_text()[-3000:]
        return self._out.read_text()

    def written(self) -> str:
        """What it has written so far."""
        return self._out.read_text() if self._out.exists() else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()


def workload(
    folder: Path,
    name: str,
    lib: str,
    role: str,
    bootstrap_servers: str,
    topic: str,
    *,
    count: int = 100,
    group: str = "g",
) -> Workload:
    """`lib`'s workload: franz-go's Go program (chaos/goclients/franzgo), or
    chaos/kafka_client.py for the Python clients; the same history either way."""
    if lib == "franz-go":
        command = [str(go_program("franzgo")), role, "-brokers", bootstrap_servers, "-topic", topic]
        command += ["-count", str(count), "-group", group, "-name", name]
    else:
        command = [
            sys.executable,
            "-m",
            "chaos.kafka_client",
            lib,
            role,
            bootstrap_servers,
        ]
        command += [topic, "--count", str(count), "--group", group, "--name", name]
    return Workload(folder, name, command)


def history(output: str) -> tuple[list[Operation], list[dict[str, Any]]]:
    """The operations a workload's events make, and its other lines (what it found
    committed)."""
    events = History(started_ns=0)  # times as CLOCK_MONOTONIC has them
    other = []
    for line in output.splitlines():
        if replay(line, events) is None:
            other.append(json.loads(line))
    return list(pair(events.events)), other
