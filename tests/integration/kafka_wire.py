"""Kafka requests by hand, for what no well-behaved client sends: one socket, frames built
with kio (the protocol's published message definitions), answers read the same way."""

from __future__ import annotations

import datetime
import io
import socket
import struct
from typing import Any

from kio.index import load_entity_module
from kio.records.schema import NewRecordBatch, Record
from kio.records.writers import write_batch
from kio.schema.fetch.v12.request import FetchPartition, FetchRequest, FetchTopic
from kio.schema.index import api_key_map
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.response_header.v0.header import ResponseHeader as ResponseHeaderV0
from kio.schema.response_header.v1.header import ResponseHeader as ResponseHeaderV1
from kio.serial import entity_reader, entity_writer
from kio.static.constants import EntityType

TIMEOUT_S = 30.0
NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)


def entity(api_key: int, version: int, kind: EntityType) -> Any:
    module = load_entity_module(api_key_map[api_key], version, kind)  # type: ignore[arg-type]
    suffix = "Request" if kind == EntityType.request else "Response"
    return next(
        v
        for k, v in vars(module).items()
        if k.endswith(suffix) and getattr(v, "__type__", None) == kind
    )


class Wire:
    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        self._correlation = 0

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, api_key: int, version: int, request: Any) -> bytes:
        """A whole frame (size prefix included) of `request`, kio's class for the version."""
        self._correlation += 1
        cls = type(request)
        header_cls = cls.__header_schema__
        header = header_cls(
            request_api_key=api_key,
            request_api_version=version,
            correlation_id=self._correlation,
            client_id="faultlab-test",
        )
        body = io.BytesIO()
        entity_writer(header_cls)(body, header)
        entity_writer(cls)(body, request)
        return struct.pack(">i", len(body.getvalue())) + body.getvalue()

    def call(
        self, api_key: int, version: int, request: Any, answer_version: int | None = None
    ) -> Any:
        """The broker's answer, read as `answer_version` (the request's by default)."""
        self.send_raw(self.frame(api_key, version, request))
        data = self.read_frame()
        assert data is not None, "the broker closed the connection"
        cls = entity(
            api_key, version if answer_version is None else answer_version, EntityType.response
        )
        flexible = cls.__flexible__ and api_key != 18  # ApiVersions answers with header v0
        header_cls: Any = ResponseHeaderV1 if flexible else ResponseHeaderV0
        header, at = entity_reader(header_cls)(data, 0)
        assert header.correlation_id == self._correlation
        answer, size = entity_reader(cls)(data, at)
        assert at + size == len(data)
        return answer

    def read_frame(self) -> bytes | None:
        """The next answer's bytes, or None once the broker has closed the connection."""
        size = self._read(4)
        if size is None:
            return None
        (length,) = struct.unpack(">i", size)
        return self._read(length)

    def closed_by_broker(self) -> bool:
        """Whether the broker closed this connection (reading gets its end, not data)."""
        return self.read_frame() is None

    def _read(self, n: int) -> bytes | None:
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.recv(n - len(out))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            out += chunk
        return out


def batch(values: list[bytes], producer_id: int = -1, sequence: int = -1) -> bytes:
    """A record batch of `values` as kio writes it; idempotent when producer_id >= 0."""
    out = io.BytesIO()
    records = tuple(
        Record(attributes=0, timestamp=NOW, offset=i, key=None, value=v, headers=())
        for i, v in enumerate(values)
    )
    write_batch(
        out,
        NewRecordBatch(
            producer_id=producer_id,
            producer_epoch=0 if producer_id >= 0 else -1,
            base_sequence=sequence,
            attributes=0,
            records=records,
        ),
    )
    return out.getvalue()


def fetch_request(topic: str, partition: int, offset: int) -> Any:
    """Fetch v12 of one partition from `offset`, answered at once (no long poll)."""
    where = FetchPartition(partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20)
    return FetchRequest(
        replica_id=-1,
        max_wait=datetime.timedelta(0),
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(FetchTopic(topic=topic, partitions=(where,)),),
        forgotten_topics_data=(),
        rack_id="",
    )


def metadata_request(topic: str) -> Any:
    """Metadata v12 for one topic, creating nothing."""
    return MetadataRequest(
        topics=(MetadataRequestTopic(topic_id=None, name=topic),),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )


def led_by_first_replica(partition: Any) -> bool:
    """A Metadata partition led by its first (preferred) replica: where Kafka's auto leader
    rebalance and faultlab's housekeeping keep it, so no hand-over comes later."""
    return bool(partition.replica_nodes) and partition.leader_id == partition.replica_nodes[0]
