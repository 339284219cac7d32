"""A lock holder in a process of its own, so that a "GC pause" is a real SIGSTOP of it.

    python -m chaos.lock_holder --topology run/topology.toml --lock L --ttl-ms 1000 \
        --owner holder [--key K --element E] [--fenced]

It creates a session (kept alive in the background; a new one if it expires before the
grant, printing each), waits for the lock (trying again after a failed attempt), and, with
--key, reads the set kept there. Then it prints {"ready": true} and waits for a line on
stdin: the parent pauses it here, between the read and the write, where Kleppmann's
example places the GC pause. Given the line it writes the set back with its element
(with the lock's token when --fenced), releases the lock and exits. Every step is printed
as a JSON history event (chaos/locking.py) with its monotonic time.

Without --key it only holds the lock until the line (or until killed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from chaos import locking
from chaos.child import ChildProcess
from chaos.history import History
from cluster.client import KvClient, LockClient
from cluster.client.lock import LockSession
from cluster.launcher import child_pythonpath
from services.runtime.topology import Topology

RETRY_S = 0.2  # between a failed attempt and the next


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos.lock_holder")
    p.add_argument("--topology", required=True)
    p.add_argument("--lock", required=True)
    p.add_argument("--ttl-ms", type=int, default=1000)
    p.add_argument("--owner", default="holder")
    p.add_argument("--key", default="")
    p.add_argument("--element", default="holder")
    p.add_argument("--fenced", action="store_true")
    p.add_argument("--wait-s", type=float, default=30.0)
    return p.parse_args(argv)


async def hold(args: argparse.Namespace) -> int:
    topology = Topology.from_file(args.topology)
    record = locking.printer(args.owner)
    deadline = time.monotonic() + args.wait_s
    async with LockClient.for_topology(topology) as locks:
        while time.monotonic() < deadline:
            try:
                async with locks.session(args.ttl_ms / 1000, args.owner) as session:
                    print(json.dumps({"session": session.id}), flush=True)
                    return await _hold_with(session, topology, args, record, deadline)
            except (grpc.aio.AioRpcError, LostSession):
                # No session could be made (no leader yet), or it expired before the
                # lock was granted (a nemesis in the way): a new session, as a client would.
                await asyncio.sleep(RETRY_S)
    return 1


class LostSession(Exception):
    """The session expired before the lock was granted."""


async def _hold_with(
    session: LockSession,
    topology: Topology,
    args: argparse.Namespace,
    record: locking.Record,
    deadline: float,
) -> int:
    token = None
    while token is None:
        if session.lost.is_set():
            raise LostSession()
        if time.monotonic() >= deadline:
            return 1
        wait_s = max(RETRY_S, deadline - time.monotonic())
        token = await locking.acquire(session, args.lock, record, wait_s)
    if not args.key:
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # held until told (or killed)
    else:
        async with KvClient.for_topology(topology) as kv:
            members = await locking.read_set(kv, args.key, record)
            print(json.dumps({"ready": True}), flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # paused here
            if members is not None:
                await locking.add(
                    kv, args.key, members, args.element, args.lock, token, args.fenced, record
                )
    await locking.release(session, args.lock, record)
    return 0


class HolderProcess(ChildProcess):
    """The parent's handle on a running lock holder: its events go into `history`."""

    def __init__(self, proc: asyncio.subprocess.Process, history: History) -> None:
        super().__init__(proc)
        self.history = history
        self.session = 0

    async def wait_for(self, field: str, timeout_s: float) -> dict[str, Any]:
        """Read its lines (recording the events) until one has `field`; the line."""
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await self.proc.stdout.readline()  # type: ignore[union-attr]
                if not raw:
                    raise RuntimeError(
                        f"the lock holder exited ({await self.proc.wait()}) before saying {field!r}"
                    )
                data = json.loads(raw)
                if "type" in data:
                    locking.replay(raw.decode(), self.history)
                elif "session" in data:
                    self.session = int(data["session"])
                if field in data:
                    return dict(data)

    def go(self) -> None:
        """Let it past its pause point: write (if it has a key), release, exit."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")

    async def finish(self, timeout_s: float) -> int:
        """Record the rest of what it prints; its exit code."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            async for raw in self.proc.stdout:
                locking.replay(raw.decode(), self.history)
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def running_holder(
    topology_path: Path, lock: str, history: History, *args: str
) -> AsyncIterator[HolderProcess]:
    """Start `python -m chaos.lock_holder` for `lock`; killed on the way out if alive."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chaos.lock_holder",
        "--topology",
        str(topology_path),
        "--lock",
        lock,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": child_pythonpath()},
    )
    holder = HolderProcess(proc, history)
    try:
        yield holder
    finally:
        await holder.reap()


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(hold(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
