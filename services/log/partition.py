"""One partition's state machine: its records at dense offsets, the idempotent producers'
last batches, and the highest fencing token per fence name. Deterministic: every replica
that applies the same commands holds the same records at the same offsets.

Commands (commands.py) and what each returns (results.py):
    Produce   -> Produced (maybe a duplicate's first answer)
                 | Refusal FENCED, PRODUCER_FENCED or OUT_OF_ORDER_SEQUENCE
    Trim      -> Trimmed     (retention, decided by the leader)

The producer state lives in the partition's own log (KIP-98), so a new leader knows every
batch the old one wrote: a retry after a lost answer is found and not written twice
(redpanda-data/redpanda#6018 lost that state on leadership change). A producer's last
five batches are kept, as Kafka does, to answer retries of any in-flight batch.

A record is (key, value, ts) as faultlab.log.v1 produces it, or (key, value, ts, headers)
as Kafka's front door does (key and value may then be None, Kafka's null; ts is the
producer's CreateTime).

Snapshot (format 1): {"v": 1, "records": [[key, value, ts(, headers)], ...] from log_start,
"log_start", "producers": {id: {"epoch", "next_seq", "batches": [[first_seq, base, ts]]}},
"fences"}. Format 0 held each producer as a list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.log import results
from services.log.commands import PARTITION_COMMANDS, Produce, ProducerSeq
from services.log.results import Produced, Trimmed
from services.replicated.codec import FORMAT, collector_paused, pack, snapshot_version, unpack
from services.replicated.fences import Fences
from services.replicated.refusal import Refusal

BATCHES_KEPT = 5  # per producer: Kafka's max.in.flight.requests.per.connection


@dataclass(frozen=True)
class StoredRecord:
    offset: int
    key: bytes | None  # None: Kafka's null key
    value: bytes | None  # None: Kafka's null value (a tombstone)
    timestamp_ms: int
    headers: tuple[tuple[bytes, bytes | None], ...] = ()


Row = tuple[Any, ...]  # (key, value, ts) or (key, value, ts, headers)


def row_bytes(row: Row) -> int:
    """What a record counts against retention and fetch sizes: its key and value."""
    return len(row[0] or b"") + len(row[1] or b"")


@dataclass
class ProducerState:
    epoch: int
    next_seq: int = 0
    # (first_seq, base_offset, ts) of its last batches, oldest first
    batches: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=BATCHES_KEPT))

    def to_map(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "next_seq": self.next_seq, "batches": list(self.batches)}

    @classmethod
    def from_map(cls, m: dict[str, Any]) -> ProducerState:
        return cls.from_format0([m["epoch"], m["next_seq"], m["batches"]])

    @classmethod
    def from_format0(cls, row: list[Any]) -> ProducerState:
        epoch, next_seq, batches = row
        return cls(epoch, next_seq, deque(map(tuple, batches), maxlen=BATCHES_KEPT))


Listener = Callable[[], None]


class PartitionState:
    def __init__(self) -> None:
        self._records: list[Row] = []  # from log_start on
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

    def apply(self, index: int, command: bytes) -> Produced | Trimmed | Refusal:
        cmd = PARTITION_COMMANDS.decode(command)
        if isinstance(cmd, Produce):
            return self._produce(cmd)
        return self._trim(cmd.before)

    def snapshot(self) -> bytes:
        return pack(
            {
                "v": FORMAT,
                "records": self._records,
                "log_start": self.log_start,
                "producers": {pid: p.to_map() for pid, p in self.producers.items()},
                "fences": self.fences.snapshot(),
            }
        )

    def restore(self, data: bytes) -> None:
        state = unpack(data)
        if snapshot_version(state) == 0:
            producers = {
                pid: ProducerState.from_format0(p) for pid, p in state["producers"].items()
            }
        else:
            producers = {pid: ProducerState.from_map(p) for pid, p in state["producers"].items()}
        with collector_paused():  # a tuple per row, millions of them at once (codec.py)
            self._records = [tuple(r) for r in state["records"]]
        self.log_start = state["log_start"]
        self.total_bytes = sum(map(row_bytes, self._records))
        self.producers = producers
        self.fences.restore(state["fences"])
        self._notify()

    # -- reads ----------------------------------------------------------------------------

    def read(self, offset: int, max_bytes: int) -> list[StoredRecord]:
        """Records from `offset` (within [log_start, high_watermark]) up to `max_bytes`,
        at least one when there is one."""
        out: list[StoredRecord] = []
        size = 0
        for i in range(offset - self.log_start, len(self._records)):
            row = self._records[i]
            size += row_bytes(row)
            if out and size > max_bytes:
                break
            headers = tuple(map(tuple, row[3])) if len(row) > 3 else ()
            out.append(StoredRecord(self.log_start + i, row[0], row[1], row[2], headers))
        return out

    def offset_at_time(self, timestamp_ms: int) -> int | None:
        """The first offset whose timestamp is at or after `timestamp_ms` (Kafka's
        ListOffsets by time; timestamps are the producers' and need not rise), or None."""
        for i, row in enumerate(self._records):
            if row[2] >= timestamp_ms:
                return self.log_start + i
        return None

    def newest_timestamp(self) -> tuple[int, int] | None:
        """(offset, timestamp) of the record with the largest timestamp, the first such."""
        if not self._records:
            return None
        i = max(range(len(self._records)), key=lambda j: (self._records[j][2], -j))
        return self.log_start + i, self._records[i][2]

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
                over -= row_bytes(self._records[i])
                i += 1
            start = max(start, self.log_start + i)
        if max_age_ms:
            i = start - self.log_start
            while i < len(self._records) and self._records[i][2] < now_ms - max_age_ms:
                i += 1
            start = self.log_start + i
        return start

    # -- commands ---------------------------------------------------------------------------

    def _produce(self, cmd: Produce) -> Produced | Refusal:
        producer = cmd.producer
        if producer is not None:
            answered = self._check_producer(producer)
            if answered is not None:
                return answered
        if cmd.fence is not None:
            refused = self.fences.refuse(cmd.fence)
            if refused is not None:
                return refused
        base = self.high_watermark
        ts = cmd.ts
        # [key, value] from faultlab.log.v1 (the leader's ts), [key, value, ts, headers]
        # from the Kafka door. One pass builds the rows: this runs for every record on
        # every replica, and a loop of appends cost 4% of a busy node's loop.
        rows = [(r[0], r[1], ts) if len(r) == 2 else tuple(r) for r in cmd.records]
        self._records.extend(rows)
        self.total_bytes += sum(map(row_bytes, rows))
        if producer is not None:
            state = self.producers.get(producer.producer_id)
            if state is None or state.epoch != producer.epoch:
                state = self.producers[producer.producer_id] = ProducerState(producer.epoch)
            state.next_seq = producer.first_seq + len(cmd.records)
            state.batches.append((producer.first_seq, base, cmd.ts))
        self._notify()
        return Produced(base, cmd.ts)

    def _check_producer(self, producer: ProducerSeq) -> Produced | Refusal | None:
        """A refusal or a duplicate's answer; None when the batch is the producer's next."""
        state = self.producers.get(producer.producer_id)
        if state is not None and producer.epoch < state.epoch:
            return results.producer_fenced(producer.producer_id, state.epoch)
        if state is None or producer.epoch > state.epoch:  # a new producer, or a new epoch
            if producer.first_seq != 0:
                return results.out_of_order(0)
            return None
        for seq, base, ts in state.batches:
            if seq == producer.first_seq:
                return Produced(base, ts, duplicate=True)
        if producer.first_seq != state.next_seq:
            return results.out_of_order(state.next_seq)
        return None

    def _trim(self, before: int) -> Trimmed:
        drop = min(before, self.high_watermark) - self.log_start
        if drop > 0:
            self.total_bytes -= sum(map(row_bytes, self._records[:drop]))
            del self._records[:drop]
            self.log_start += drop
        return Trimmed(self.log_start)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()
