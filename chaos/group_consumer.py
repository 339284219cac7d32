"""A consumer-group member in a process of its own, so that its pause is a real SIGSTOP.

    python -m chaos.group_consumer --topology run/topology.toml --topic T --group G \
        --name consumer-a --session-ms 1000

It consumes the way Kafka's consumers did before KIP-62 moved heartbeats to a thread of
their own: one loop of heartbeat, poll, process, commit. So a member stuck between its
poll and its commit longer than its session timeout is expired by the coordinator and its
partitions go to another member; it learns so only at its next heartbeat, after the
commit of the batch it was processing, which still carries its old generation.

Each poll ends with a line {"polled": N, "next": OFFSET}. A line "pause" on stdin makes
it stop after its next poll, print {"ready": true} and wait for "go" before committing:
the parent stops it there. "stop" makes it leave the group and exit. Every poll and
commit is printed as a history event (chaos.locking.printer) with its monotonic time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from chaos import locking
from chaos.child import ChildProcess
from chaos.history import History
from chaos.workload import failure_fields
from cluster.client import LogClient, errors
from cluster.client.consumer import GroupConsumer
from cluster.launcher import child_pythonpath
from services.runtime.topology import Topology

POLL_WAIT_MS = 100


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos.group_consumer")
    p.add_argument("--topology", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--name", default="consumer")
    p.add_argument("--session-ms", type=int, default=1000)
    return p.parse_args(argv)


async def consume(args: argparse.Namespace) -> int:
    topology = Topology.from_file(args.topology)
    record = locking.printer(args.name)
    commands: asyncio.Queue[str] = asyncio.Queue()
    reader = asyncio.create_task(_read_commands(commands))
    async with (
        LogClient.for_topology(topology, timeout_s=2.0) as log,
        GroupConsumer(
            log,
            args.group,
            [args.topic],
            session_timeout_s=args.session_ms / 1000,
            client_id=args.name,
            background_heartbeats=False,
        ) as member,
    ):
        print(json.dumps({"joined": member.member_id, "generation": member.generation}), flush=True)
        pause_next = False
        while True:
            while not commands.empty():
                command = commands.get_nowait()
                if command == "stop":  # leaving the `async with` leaves the group
                    reader.cancel()
                    return 0
                pause_next = pause_next or command == "pause"
            await member.heartbeat()
            polled = await _poll(log, member, record)
            print(json.dumps({"polled": polled, "generation": member.generation}), flush=True)
            if pause_next:
                pause_next = False
                print(json.dumps({"ready": True}), flush=True)
                while (await commands.get()) != "go":
                    pass
            await _commit(member, record)


async def _poll(log: LogClient, member: GroupConsumer, record: locking.Record) -> int:
    """Each assigned partition fetched and recorded on its own (the checker reads polls
    per partition), advancing the member's positions."""
    polled = 0
    for (topic, partition), offset in sorted(member.positions.items()):
        key = f"{topic}/{partition}"
        record("invoke", "poll", key)
        try:
            got = await log.fetch(topic, partition, offset, max_wait_ms=POLL_WAIT_MS)
        except grpc.aio.AioRpcError as e:
            record("fail", "poll", key, **failure_fields(e))
            continue
        records = [[r.offset, r.value.decode()] for r in got.records]
        record("ok", "poll", key, value=records)
        if records:
            member.positions[(topic, partition)] = records[-1][0] + 1
            polled += len(records)
    return polled


async def _commit(member: GroupConsumer, record: locking.Record) -> None:
    if not member.positions:
        return
    for (topic, partition), offset in sorted(member.positions.items()):
        record("invoke", "commit", f"{topic}/{partition}", value=[offset, member.generation])
    try:
        await member.commit()
    except grpc.aio.AioRpcError as e:
        outcome = "fail" if errors.definite(e) else "info"
        for topic, partition in sorted(member.positions):
            record(outcome, "commit", f"{topic}/{partition}", **failure_fields(e))
        return
    for topic, partition in sorted(member.positions):
        record("ok", "commit", f"{topic}/{partition}")


async def _read_commands(commands: asyncio.Queue[str]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        commands.put_nowait(line.decode().strip())
    commands.put_nowait("stop")  # the parent is gone


class ConsumerProcess(ChildProcess):
    """The parent's handle on a running group consumer. One task reads everything it
    prints: events go into `history` as they come (its pipe never fills), status lines
    into a queue for `wait_for`."""

    def __init__(self, proc: asyncio.subprocess.Process, history: History) -> None:
        super().__init__(proc)
        self.history = history
        self._status: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            if locking.replay(raw.decode(), self.history) is None:
                self._status.put_nowait(json.loads(raw))
        self._status.put_nowait(None)  # it exited

    async def wait_for(self, field: str, timeout_s: float) -> dict[str, Any]:
        """The next status line that has `field`."""
        async with asyncio.timeout(timeout_s):
            while True:
                status = await self._status.get()
                if status is None:
                    raise RuntimeError(
                        f"the consumer exited ({await self.proc.wait()}) before saying {field!r}"
                    )
                if field in status:
                    return status

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command}\n".encode())

    async def stop(self, timeout_s: float) -> int:
        """Ask it to leave the group and exit; its exit code."""
        self.send("stop")
        async with asyncio.timeout(timeout_s):
            await self._reader
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def running_consumer(
    topology_path: Path, topic: str, group: str, name: str, history: History, session_ms: int
) -> AsyncIterator[ConsumerProcess]:
    """Start `python -m chaos.group_consumer`; killed on the way out if alive."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chaos.group_consumer",
        "--topology",
        str(topology_path),
        "--topic",
        topic,
        "--group",
        group,
        "--name",
        name,
        "--session-ms",
        str(session_ms),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": child_pythonpath()},
    )
    consumer = ConsumerProcess(proc, history)
    try:
        yield consumer
    finally:
        await consumer.reap()
        await asyncio.gather(consumer._reader, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(consume(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
