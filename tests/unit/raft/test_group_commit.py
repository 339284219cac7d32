"""GroupCommit: the Readies of a node's groups go to disk together, each group's own
outcome goes to its own caller, and nothing is answered before its sync ran. Real
RaftStorage on real files; `Recording` only notes the order of the calls it passes on."""

from __future__ import annotations

import asyncio
import errno
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.waiting import wait_until_async
from services.raft.messages import Entry, HardState
from services.raft.ready import Ready, SoftState
from services.raft.storage import FsyncPolicy, RaftStorage
from services.raft.storage.group_commit import GroupCommit


def ready(index: int) -> Ready:
    entry = Entry(1, index, f"e{index}".encode())
    soft, hard = SoftState("follower", "", 1), HardState(1, "", 0)
    return Ready(soft, hard, (entry,), None, (), (), (), True)


class Recording(RaftStorage):
    def __init__(self, path: Path, calls: list[str], fail_write: Exception | None = None) -> None:
        super().__init__(path, FsyncPolicy.BATCH)
        self.name, self.calls, self.fail_write = path.name, calls, fail_write
        self.in_sync = threading.Event()  # set while sync runs, for the test that holds it
        self.release = threading.Event()
        self.release.set()
        self.recover()

    def write(self, rd: Ready) -> None:
        self.calls.append(f"write {self.name}")
        if self.fail_write is not None:
            raise self.fail_write
        super().write(rd)

    def sync(self, rd: Ready) -> None:
        self.in_sync.set()
        self.release.wait(10)
        super().sync(rd)
        self.calls.append(f"sync {self.name}")


def recovered_indexes(path: Path) -> list[int]:
    return [e.index for e in RaftStorage(path).recover().entries]


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def group(tmp_path: Path, calls: list[str]) -> Iterator[Callable[..., Recording]]:
    """Makes a group's storage under tmp_path; every one is closed after the test."""
    made: list[Recording] = []

    def make(name: str, fail_write: Exception | None = None) -> Recording:
        made.append(Recording(tmp_path / name, calls, fail_write))
        return made[-1]

    yield make
    for storage in made:
        storage.close()


async def test_readies_queued_together_are_written_then_synced_in_one_batch(
    group: Callable[..., Recording], calls: list[str]
) -> None:
    groups = [group(name) for name in ("a", "b", "c")]
    commit = GroupCommit()
    await asyncio.gather(*(commit.persist(g, ready(1)) for g in groups))
    assert calls == ["write a", "write b", "write c", "sync a", "sync b", "sync c"]
    for g in groups:
        g.close()
        assert recovered_indexes(g.directory) == [1]


@pytest.mark.parametrize(
    "error",
    [OSError(errno.EIO, "injected"), ValueError("write to closed file")],
    ids=["disk-error", "file-closed-by-a-removed-group"],
)
async def test_a_failed_write_reaches_its_own_group_and_the_others_are_durable(
    group: Callable[..., Recording], calls: list[str], error: Exception
) -> None:
    good, bad = group("good"), group("bad", fail_write=error)
    commit = GroupCommit()
    outcomes = await asyncio.gather(
        commit.persist(bad, ready(1)), commit.persist(good, ready(1)), return_exceptions=True
    )
    assert outcomes[0] is error
    assert outcomes[1] is None
    assert calls == ["write bad", "write good", "sync good"]  # the failed one is not synced
    good.close()
    assert recovered_indexes(good.directory) == [1]


async def test_a_ready_that_arrives_while_a_batch_is_on_disk_waits_for_the_next(
    group: Callable[..., Recording], calls: list[str]
) -> None:
    first, second = group("first"), group("second")
    first.release.clear()  # hold the first batch inside its sync
    commit = GroupCommit()
    one = asyncio.create_task(commit.persist(first, ready(1)))
    assert await asyncio.to_thread(first.in_sync.wait, 10)
    two = asyncio.create_task(commit.persist(second, ready(1)))

    async def second_queued() -> bool:
        return commit.queued == 1

    await wait_until_async(second_queued, 10, "the second Ready to queue behind the batch")
    assert not one.done() and not two.done()
    first.release.set()
    await asyncio.gather(one, two)
    assert calls == ["write first", "sync first", "write second", "sync second"]


async def test_a_caller_that_gives_up_leaves_the_others_answered(
    group: Callable[..., Recording],
) -> None:
    leaving, staying = group("leaving"), group("staying")
    leaving.release.clear()
    commit = GroupCommit()
    gone = asyncio.create_task(commit.persist(leaving, ready(1)))
    kept = asyncio.create_task(commit.persist(staying, ready(1)))
    assert await asyncio.to_thread(leaving.in_sync.wait, 10)
    gone.cancel()  # its group stopped
    leaving.release.set()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
