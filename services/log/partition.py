"""One partition's state machine: its records at dense offsets, the idempotent producers'
last batches, and the highest fencing token per fence name. Deterministic: every replica
that applies the same commands holds the same records at the same offsets.

Commands (msgpack maps):
    {"op": "produce", "records": [[key, value], ...], "ts": ms, "producer": [id, epoch,
     first_seq] | None, "fence": [name, token] | None}
        -> {"base_offset", "ts"} | {"duplicate": True, "base_offset", "ts"}
         | {"error": "fenced", "highest_token"} | {"error": "producer_fenced", "epoch"}
         | {"error": "out_of_order", "expected_seq"}
    {"op": "trim", "before": offset}   -> {"log_start"}   (retention, decided by the leader)

The producer state lives in the partition's own log (KIP-98), so a new leader knows every
batch the old one wrote: a retry after a lost answer is found and not written twice
(redpanda-data/redpanda#6018 lost that state on leadership change). A producer's last
five batches are kept, as Kafka does, to answer retries of any in-flight batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from services.log import commands
from services.replicated.fences import Fences

BATCHES_KEPT = 5  # per producer: Kafka's max.in.flight.requests.per.connection


@dataclass(frozen=True)
class StoredRecord:
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass
class ProducerState:
    epoch: int
    next_seq: int = 0
    # (first_seq, base_offset, ts) of its last batches, oldest first
    batches: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))


Listener = Callable[[], None]


class PartitionState:
    def __init__(self) -> None:
        self._records: list[tuple[bytes, bytes, int]] = []  # from log_start on
        self.log_start = 0
        self.total_bytes = 0
        self.producers: dict[int, ProducerState] = {}
        self.fences = Fences()
        self.listeners: set[Listener] = set()  # told after records are appended

    @property
    def high_watermark(self) -> int:
        """The next offset: every record below it is committed (applied ⇒ committed)."""
        return self.log_start + len(self._records)

    # -- the StateMachine seam ------------------------------------------------------------

    def apply(self, index: int, command: bytes) -> dict[str, Any]:
        cmd = commands.decode(command)
        op = cmd["op"]
        if op == "produce":
            return self._produce(cmd)
        if op == "trim":
            return self._trim(cmd["before"])
        raise AssertionError(f"unknown command {op!r}: a replica is out of date")

    def snapshot(self) -> bytes:
        state = {
            "records": self._records,
            "log_start": self.log_start,
            "producers": {
                pid: [p.epoch, p.next_seq, list(p.batches)] for pid, p in self.producers.items()
            },
            "fences": self.fences.snapshot(),
        }
        out: bytes = msgpack.packb(state, use_bin_type=True)
        return out

    def restore(self, data: bytes) -> None:
        state = msgpack.unpackb(data, raw=False, strict_map_key=False)
        self._records = [tuple(r) for r in state["records"]]
        self.log_start = state["log_start"]
        self.total_bytes = sum(len(k) + len(v) for k, v, _ in self._records)
        self.producers = {
            pid: ProducerState(epoch, next_seq, deque(map(tuple, batches), maxlen=BATCHES_KEPT))
            for pid, (epoch, next_seq, batches) in state["producers"].items()
        }
        self.fences.restore(state["fences"])
        self._notify()

    # -- reads ----------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int) -> list[StoredRecord]:
        """Records from `offset` (within [log_start, high_watermark]) up to `max_bytes`,
        at least one when there is one."""
        out: list[StoredRecord] = []
        size = 0
        for i in range(offset - self.log_start, len(self._records)):
            key, value, ts = self._records[i]
            size += len(key) + len(value)
            if out and size > max_bytes:
                break
            out.append(StoredRecord(self.log_start + i, key, value, ts))
        return out

    def oldest_timestamp_ms(self) -> int | None:
        return self._records[0][2] if self._records else None

    def retention_point(
        self, max_records: int, max_bytes: int, max_age_ms: int, now_ms: int
    ) -> int:
        """The offset the log should start at under these limits (0: unlimited)."""
        start = self.log_start
        if max_records and len(self._records) > max_records:
            start = max(start, self.high_watermark - max_records)
        if max_bytes and self.total_bytes > max_bytes:
            over = self.total_bytes - max_bytes
            i = 0
            while over > 0:
                key, value, _ = self._records[i]
                over -= len(key) + len(value)
                i += 1
            start = max(start, self.log_start + i)
        if max_age_ms:
            i = start - self.log_start
            while i < len(self._records) and self._records[i][2] < now_ms - max_age_ms:
                i += 1
            start = self.log_start + i
        return start

    # -- commands ---------------------------------------------------------------------------

    def _produce(self, cmd: dict[str, Any]) -> dict[str, Any]:
        producer = cmd.get("producer")
        if producer:
            refusal = self._check_producer(*producer)
            if refusal is not None:
                return refusal
        fence = cmd.get("fence")
        if fence:
            refusal = self.fences.refuse(fence)
            if refusal is not None:
                return refusal
        base = self.high_watermark
        ts = cmd["ts"]
        for key, value in cmd["records"]:
            self._records.append((key, value, ts))
            self.total_bytes += len(key) + len(value)
        if producer:
            pid, epoch, first_seq = producer
            state = self.producers.get(pid)
            if state is None or state.epoch != epoch:
                state = self.producers[pid] = ProducerState(epoch)
            state.next_seq = first_seq + len(cmd["records"])
            state.batches.append((first_seq, base, ts))
        self._notify()
        return {"base_offset": base, "ts": ts}

    def _check_producer(self, pid: int, epoch: int, first_seq: int) -> dict[str, Any] | None:
        """A refusal or a duplicate's answer; None when the batch is the producer's next."""
        state = self.producers.get(pid)
        if state is not None and epoch < state.epoch:
            return {"error": "producer_fenced", "epoch": state.epoch}
        if state is None or epoch > state.epoch:  # a new producer, or a new epoch of one
            if first_seq != 0:
                return {"error": "out_of_order", "expected_seq": 0}
            return None
        for seq, base, ts in state.batches:
            if seq == first_seq:
                return {"duplicate": True, "base_offset": base, "ts": ts}
        if first_seq != state.next_seq:
            return {"error": "out_of_order", "expected_seq": state.next_seq}
        return None

    def _trim(self, before: int) -> dict[str, Any]:
        drop = min(before, self.high_watermark) - self.log_start
        if drop > 0:
            self.total_bytes -= sum(len(k) + len(v) for k, v, _ in self._records[:drop])
            del self._records[:drop]
            self.log_start += drop
        return {"log_start": self.log_start}

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()
