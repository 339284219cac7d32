"""A real Apache Kafka beside faultlab: Kafka 4.1's broker jars (fetched by `make kafka`
from Maven Central into .tools/kafka/libs) run in KRaft mode with the machine's JDK, each
broker also a controller, on free ports of 127.0.0.1. The Kafka door's tests run the
same clients against both, and the bench measures against it."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cluster.ports import free_ports
from cluster.waiting import wait_until

LIBS = Path(__file__).resolve().parents[1] / ".tools" / "kafka" / "libs"
START_S = 60.0
HEAP = "-Xmx512m"


@dataclass
class Kafka:
    procs: list[subprocess.Popen[bytes]]
    ports: list[int]  # each broker's client listener

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def address(self, broker: int) -> str:
        """Broker `broker`'s (1-based, its node.id) client address."""
        return f"127.0.0.1:{self.ports[broker - 1]}"


def installed() -> str | None:
    """Why Kafka cannot run here, or None when it can."""
    if shutil.which("java") is None:
        return "no JDK (java) on this machine"
    if not (LIBS / ".copied").exists():
        return f"Apache Kafka's jars are not in {LIBS}: `make kafka` fetches them"
    return None


def _properties(
    node: int, ports: list[int], controllers: list[int], voters: str, data: Path
) -> str:
    client, controller = ports[node - 1], controllers[node - 1]
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "offsets.topic.replication.factor": str(len(ports)),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(len(ports)),
        "transaction.state.log.min.isr": "1",
        "default.replication.factor": str(len(ports)),
        # as the faultlab side runs in tests: groups form without Kafka's 3 s wait
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@contextlib.contextmanager
def kafka_cluster(folder: Path, brokers: int = 1) -> Iterator[Kafka]:
    """`brokers` Kafka brokers (each a KRaft controller too), stopped on the way out."""
    why = installed()
    if why is not None:
        raise FileNotFoundError(why)
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * brokers)
    clients, controllers = ports[:brokers], ports[brokers:]
    voters = ",".join(f"{n}@127.0.0.1:{controllers[n - 1]}" for n in range(1, brokers + 1))
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    java = ["java", HEAP, "-cp", f"{LIBS}/*"]
    env = {**os.environ, "KAFKA_HEAP_OPTS": HEAP}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for node in range(1, brokers + 1):
            config = folder / f"broker{node}.properties"
            data = folder / f"data{node}"
            config.write_text(_properties(node, clients, controllers, voters, data))
            subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
                check=True,
                capture_output=True,
                timeout=START_S,
                env=env,
            )
            with (folder / f"broker{node}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [*java, "kafka.Kafka", str(config)], stdout=log, stderr=log, env=env
                    )
                )

        def up() -> bool:
            for i, p in enumerate(procs):
                if p.poll() is not None:
                    raise RuntimeError(f"Kafka broker {i + 1} exited with code {p.returncode}")
            return all(_answers(port) for port in clients)

        wait_until(up, START_S, "Kafka's brokers")
        yield Kafka(procs, clients)
    finally:
        for p in procs:
            p.kill()
            p.wait()
