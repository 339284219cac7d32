"""Committed entries per second through three Raft cores in memory: no disk, no sockets.

It measures the pure core's cost per entry (step, ready, advance, the log and progress
bookkeeping), so the asyncio driver's overhead can later be told apart from the core's.
Messages are delivered instantly and in order; the "disk" is a list.

    python bench/raft_core.py [--entries 200000] [--batch 1 16 64]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import deque

from services.raft.config import RaftConfig
from services.raft.core import RaftCore
from services.raft.messages import Message
from services.raft.role import Role

VOTERS = ("n1", "n2", "n3")


def build() -> dict[str, RaftCore]:
    return {
        v: RaftCore(
            RaftConfig(node_id=v, voters=VOTERS, max_entries_per_append=256),
            random.Random(i),
        )
        for i, v in enumerate(VOTERS)
    }


def pump(cores: dict[str, RaftCore], inbox: deque[Message]) -> int:
    """Drive every Ready and deliver every message until quiet; returns entries applied."""
    applied = 0
    busy = True
    while busy:
        busy = False
        for core in cores.values():
            while core.has_ready():
                rd = core.ready()
                inbox.extend(rd.messages)
                applied += len(rd.committed_entries)
                core.advance(rd)
                busy = True
        while inbox:
            m = inbox.popleft()
            cores[m.dst].step(m)
            busy = True
    return applied


def run(entries: int, batch: int) -> float:
    cores = build()
    inbox: deque[Message] = deque()
    while not any(c.role is Role.LEADER for c in cores.values()):
        for c in cores.values():
            c.tick()
        pump(cores, inbox)
    leader = next(c for c in cores.values() if c.role is Role.LEADER)
    pump(cores, inbox)
    payload = b"x" * 100
    start_commit = leader.log.commit
    started = time.perf_counter()
    for _ in range(entries // batch):
        leader.propose_batch([payload] * batch)
        pump(cores, inbox)
    elapsed = time.perf_counter() - started
    committed = leader.log.commit - start_commit
    assert committed == (entries // batch) * batch, "not everything committed"
    return committed / elapsed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64])
    args = p.parse_args()
    print(f"{'batch':>6} {'committed entries/s':>20}   (3 cores, in memory, 100-byte entries)")
    for batch in args.batch:
        n = args.entries if batch > 1 else args.entries // 5
        print(f"{batch:>6} {run(n, batch):>20,.0f}")


if __name__ == "__main__":
    main()
