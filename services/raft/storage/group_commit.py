"""`GroupCommit`: the blocking persists of every Raft group on a node, batched into one
thread hop and one round of fsyncs.

    commit = GroupCommit()               # one per node, shared by its groups
    await commit.persist(storage, rd)    # returns once rd is durable (or raises OSError)

Each group's loop used to run its own `asyncio.to_thread(storage.persist, rd)`. With 64
partitions on a node, that was 64 thread hops, and 64 fsyncs racing on up to six executor
threads, for every round of produce requests. Here the Readies that queue while one
batch is on the disk go together in the next: one hop writes every one of them, then
syncs those that must be durable. Written first and synced after, the files are dirty
together when the first fsync commits the filesystem's journal (ext4's ordered mode
writes every dirty file of the transaction), so the fsyncs after it find less to do.
This is the node-level write batching that multi-Raft stores do with a shared log
(TiKV's raft-engine, CockroachDB's one Pebble per store), kept to one file per group.

A Ready is durable only when its own `sync` returned: a batch's futures are answered
after every write and sync of the batch ran, each with its own outcome.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.raft.ready import Ready
from services.raft.storage.protocol import Storage


@dataclass
class _Job:
    storage: Storage
    rd: Ready
    done: asyncio.Future[None]
    error: Exception | None = None


class GroupCommit:
    def __init__(self) -> None:
        self._queued: list[_Job] = []
        self._draining: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Readies waiting for the next batch (the one on disk not counted)."""
        return len(self._queued)

    async def persist(self, storage: Storage, rd: Ready) -> None:
        job = _Job(storage, rd, asyncio.get_running_loop().create_future())
        self._queued.append(job)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="raft-group-commit")
        await job.done

    async def _drain(self) -> None:
        batch: list[_Job] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await asyncio.to_thread(_write_then_sync, batch)
                for job in batch:
                    _answer(job)
                batch = []
        finally:  # cancelled (the node stops): nobody waits for ever
            for job in batch + self._queued:
                if not job.done.done():
                    job.done.cancel()
            self._queued = []


def _write_then_sync(batch: list[_Job]) -> None:
    """In the executor's thread: every write, then every sync. A job whose write failed
    is not synced; its error goes to its own caller (an OSError stops the node). Any
    error is caught here, not only OSError: a group removed while its Ready is on disk
    has its file closed under it (ValueError), and that must not fail the batch, or
    every other group's loop would end with it."""
    for job in batch:
        try:
            job.storage.write(job.rd)
        except Exception as e:
            job.error = e
    for job in batch:
        if job.error is None:
            try:
                job.storage.sync(job.rd)
            except Exception as e:
                job.error = e


def _answer(job: _Job) -> None:
    if job.done.done():  # its group stopped meanwhile
        return
    if job.error is None:
        job.done.set_result(None)
    else:
        job.done.set_exception(job.error)
