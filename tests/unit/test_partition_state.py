"""The partition state machine alone: under random produce, retry, new-epoch, fence and
trim commands, offsets stay dense, every idempotent batch is written at most once and in
sequence, a retry is answered with the first attempt's offset, and a replica restored from
a snapshot taken at any point goes on exactly like the original."""

from __future__ import annotations

import gc
from typing import Any

from faultlab.errors.v1 import errors_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.log.commands import PARTITION_COMMANDS, PartitionCommand, Produce, ProducerSeq, Trim
from services.log.partition import PartitionState
from services.log.results import Produced, Trimmed
from services.replicated.fences import Fence
from services.replicated.refusal import Refusal

PRODUCERS = 2


def op_strategy() -> st.SearchStrategy[tuple[Any, ...]]:
    producer = st.integers(1, PRODUCERS)
    return st.one_of(
        st.tuples(st.just("plain"), st.integers(1, 4)),  # a non-idempotent batch of n
        st.tuples(st.just("send"), producer, st.integers(1, 4)),  # the producer's next batch
        st.tuples(st.just("retry"), producer),  # its last batch again (a lost answer)
        st.tuples(st.just("skip"), producer),  # a batch past its next sequence
        st.tuples(st.just("bump"), producer),  # a new epoch (InitProducer again)
        st.tuples(st.just("zombie"), producer),  # a batch from the previous epoch
        st.tuples(st.just("fenced"), st.integers(0, 5)),  # a fenced batch with this token
        st.tuples(st.just("trim"), st.integers(0, 30)),
    )


class Producer:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.epoch = 0
        self.next_seq = 0
        self.last: tuple[int, list[Any], int] | None = None  # (seq, records, offset)


class Driver:
    def __init__(self) -> None:
        self.state = PartitionState()
        self.index = 0
        self.log: list[bytes] = []  # every command applied, to replay into a copy
        self.producers = {p: Producer(p) for p in range(1, PRODUCERS + 1)}
        self.values = 0
        self.written: list[bytes] = []  # what should be in the log, in order

    def apply(self, cmd: PartitionCommand) -> Produced | Trimmed | Refusal:
        self.index += 1
        encoded = PARTITION_COMMANDS.encode(cmd)
        self.log.append(encoded)
        return self.state.apply(self.index, encoded)

    def batch(self, n: int) -> list[list[bytes]]:
        out = []
        for _ in range(n):
            self.values += 1
            out.append([b"", f"v{self.values}".encode()])
        return out

    def step(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        before = self.state.high_watermark
        if kind == "plain":
            records = self.batch(op[1])
            result = self.apply(Produce(records, 1))
            assert result == Produced(before, 1)
            self.written += [r[1] for r in records]
        elif kind == "send":
            p = self.producers[op[1]]
            records = self.batch(op[2])
            result = self._send(p, p.epoch, p.next_seq, records)
            assert result == Produced(before, 1)
            p.last = (p.next_seq, records, before)
            p.next_seq += len(records)
            self.written += [r[1] for r in records]
        elif kind == "retry":
            p = self.producers[op[1]]
            if p.last is None:
                return
            seq, records, offset = p.last
            result = self._send(p, p.epoch, seq, records)
            assert result == Produced(offset, 1, duplicate=True)
        elif kind == "skip":
            p = self.producers[op[1]]
            result = self._send(p, p.epoch, p.next_seq + 1, self.batch(1))
            assert refusal(result) == (errors_pb2.OUT_OF_ORDER_SEQUENCE, str(p.next_seq))
        elif kind == "bump":
            p = self.producers[op[1]]
            p.epoch += 1
            p.next_seq = 0
            p.last = None
        elif kind == "zombie":
            p = self.producers[op[1]]
            known = self.state.producers.get(p.pid)
            if p.epoch == 0 or known is None or known.epoch != p.epoch:
                # Until the new epoch writes here the partition cannot know of it: the
                # broker refuses the old epoch before proposing (tests/integration).
                return
            result = self._send(p, p.epoch - 1, 0, self.batch(1))
            assert refusal(result) == (errors_pb2.PRODUCER_FENCED, str(p.epoch))
        elif kind == "fenced":
            token = op[1]
            highest = self.state.fences.highest.get("f", 0)
            records = self.batch(1)
            result = self.apply(Produce(records, 1, fence=Fence("f", token)))
            if token < highest:
                assert refusal(result) == (errors_pb2.FENCED, str(highest))
            else:
                self.written += [r[1] for r in records]
        else:
            start = self.state.log_start
            result = self.apply(Trim(op[1]))
            assert result == Trimmed(max(start, min(op[1], self.state.high_watermark)))
        if kind in ("retry", "skip", "zombie", "bump"):
            assert self.state.high_watermark == before  # nothing written

    def _send(
        self, p: Producer, epoch: int, seq: int, records: list[Any]
    ) -> Produced | Trimmed | Refusal:
        return self.apply(Produce(records, 1, ProducerSeq(p.pid, epoch, seq)))


def refusal(result: object) -> tuple[int, str]:
    """A refusal's reason and its one detail."""
    assert isinstance(result, Refusal), result
    (detail,) = result.details.values()
    return result.reason, detail


@settings(max_examples=200, deadline=None)
@given(st.lists(op_strategy(), max_size=60), st.integers(0, 60))
def test_offsets_stay_dense_and_batches_apply_once(ops: list[tuple[Any, ...]], cut: int) -> None:
    d = Driver()
    snapshot, snapped_at = PartitionState().snapshot(), 0
    for i, op in enumerate(ops):
        d.step(op)
        if i == cut:
            snapshot, snapped_at = d.state.snapshot(), len(d.log)
    state = d.state
    held = state.read(state.log_start, 1 << 30)
    assert [r.offset for r in held] == list(range(state.log_start, state.high_watermark))
    assert [r.value for r in held] == d.written[state.log_start :]
    assert state.high_watermark == len(d.written)

    replica = PartitionState()
    replica.restore(snapshot)
    for index, cmd in enumerate(d.log[snapped_at:], start=snapped_at + 1):
        replica.apply(index, cmd)
    assert replica.snapshot() == state.snapshot()
    assert replica.total_bytes == state.total_bytes


def test_retention_point_by_records_bytes_and_age() -> None:
    state = PartitionState()
    for i in range(10):
        cmd = Produce([[b"", b"x" * 10]], 1000 + i * 100)
        state.apply(i + 1, PARTITION_COMMANDS.encode(cmd))
    assert state.retention_point(0, 0, 0, now_ms=5000) == 0
    assert state.retention_point(4, 0, 0, now_ms=5000) == 6
    assert state.retention_point(0, 35, 0, now_ms=5000) == 7  # 30 bytes kept at most
    assert state.retention_point(0, 0, 450, now_ms=2000) == 6  # records newer than 1550 ms
    assert state.retention_point(8, 0, 450, now_ms=2000) == 6  # the strictest wins


def test_a_large_snapshot_restores_with_the_collector_paused_and_leaves_it_as_it_was() -> None:
    """A snapshot past codec.LARGE_BYTES unpacks with the cyclic collector off (it made
    restoring 1.6 million rows take 2.1 s instead of 1.2 s, on the node's event loop);
    the collector is on again after, and stays off if it was off."""
    state = PartitionState()
    value = b"v" * 100
    for _ in range(120):  # 120 batches of 100 records: past 1 MiB packed
        state.apply(0, PARTITION_COMMANDS.encode(Produce([(b"", value)] * 100, 7)))
    data = state.snapshot()
    assert len(data) > 1024 * 1024
    restored = PartitionState()
    restored.restore(data)
    assert gc.isenabled()
    assert restored.high_watermark == 12_000 and restored.read(11_999, 1000)[0].value == value
    gc.disable()
    try:
        PartitionState().restore(data)
        assert not gc.isenabled()
    finally:
        gc.enable()
