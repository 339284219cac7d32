"""Requests for any gRPC method, built from its protobuf descriptor, with the values that
break servers: empty, huge, unicode and control characters, negative and maximal
integers, unknown enum values, NaN, long repetitions and nesting. And one call of any
kind (unary or streaming) with its outcome: the status code, and the reason from the
trailing metadata (services/runtime/status.py puts it there for every refusal).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st

HUGE = 16 * 1024  # past any name's limit; nested and repeated, still inside 4 MB
REPEATED_MANY = 2000
DEPTH = 3

INT_RANGES = {
    d.FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    d.FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    d.FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    d.FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    d.FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
TEXTS = [
    "",
    " ",
    "a",
    "\x00",
    "é",
    "日本",
    "🦀" * 8,
    "\u202e\u200b",
    "../../etc",
    "a/b/",
    "\ud7ff\ue000",
    "x" * 256,
    "y" * HUGE,
]
BLOBS = [b"", b"\x00", b"\xff" * 16, b"\x80", bytes(range(256)), b"z" * HUGE]


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    extremes = [
        v for v in (0, 1, -1, 2, low, high, low + 1, high - 1, 2**31 - 1, 2**53) if low <= v <= high
    ]
    return st.sampled_from(extremes) | st.integers(low, high)


def scalar(field: d.FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t in INT_RANGES:
        return _ints(*INT_RANGES[t])
    if t == d.FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == d.FieldDescriptor.TYPE_STRING:
        return st.sampled_from(TEXTS) | st.text(max_size=24)
    if t == d.FieldDescriptor.TYPE_BYTES:
        return st.sampled_from(BLOBS) | st.binary(max_size=24)
    if t == d.FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.sampled_from(known) | st.integers(-3, 2**31 - 1)  # unknown values too
    if t == d.FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32) | st.sampled_from([math.nan, math.inf, -math.inf])
    if t == d.FieldDescriptor.TYPE_DOUBLE:
        return st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, 1e308])
    raise TypeError(f"no strategy for field type {t} ({field.full_name})")


def messages(desc: d.Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `desc`, each field set or left out, nested to DEPTH."""
    cls = message_factory.GetMessageClass(desc)
    fields = {f.name: _field(f, depth) for f in desc.fields}
    optional = {name: st.none() | values for name, values in fields.items()}
    return st.fixed_dictionaries({}, optional=optional).map(lambda kw: _build(cls, kw))


def _field(f: d.FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if f.type == d.FieldDescriptor.TYPE_MESSAGE:
        if f.message_type.GetOptions().map_entry:
            key, value = (
                f.message_type.fields_by_name["key"],
                f.message_type.fields_by_name["value"],
            )
            values = (
                messages(value.message_type, depth + 1) if value.message_type else scalar(value)
            )
            return st.dictionaries(scalar(key), values, max_size=3)
        if depth >= DEPTH:
            return st.just(None)
        one: st.SearchStrategy[Any] = messages(f.message_type, depth + 1)
    else:
        one = scalar(f)
    if not f.is_repeated:
        return one
    # Many of the field's empty value: a long repetition, not a huge message.
    empty = message_factory.GetMessageClass(f.message_type)() if f.message_type else _zero(f)
    many = st.integers(REPEATED_MANY // 2, REPEATED_MANY).map(lambda n: [empty] * n)
    return st.lists(one, max_size=4) | many


def _zero(f: d.FieldDescriptor) -> Any:
    if f.type == d.FieldDescriptor.TYPE_STRING:
        return ""
    if f.type == d.FieldDescriptor.TYPE_BYTES:
        return b""
    if f.type == d.FieldDescriptor.TYPE_BOOL:
        return False
    return 0


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    m = cls()
    for name, value in values.items():
        if value is None:
            continue
        target = getattr(m, name)
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, Message):
                    target[k].CopyFrom(v)
                else:
                    target[k] = v
        elif isinstance(value, list):
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(m, name, value)
    return m


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    reason: str  # the `reason` trailing metadata; "" when the server gave none
    details: str


def call(
    channel: grpc.Channel,
    method: d.MethodDescriptor,
    request: Message | bytes,
    timeout_s: float,
    metadata: tuple[tuple[str, str], ...] = (),
) -> Outcome:
    """One call of `method` with `request` (bytes: sent as they are, the method's
    serializer skipped); a stream request sends it twice, a stream answer reads two."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    raw = isinstance(request, bytes)
    serialize = None if raw else (lambda m: m.SerializeToString())
    parse = message_factory.GetMessageClass(method.output_type).FromString
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(method.client_streaming, method.server_streaming)]
    stub = kind(path, request_serializer=serialize, response_deserializer=parse)
    argument: Any = iter([request, request]) if method.client_streaming else request
    try:
        answer = stub(argument, timeout=timeout_s, metadata=metadata)
        if method.server_streaming:
            for _ in itertools.islice(answer, 2):
                pass
            answer.cancel()
        return Outcome(grpc.StatusCode.OK, "", "")
    except grpc.RpcError as e:
        trailing = dict(e.trailing_metadata() or ())  # type: ignore[attr-defined]
        return Outcome(e.code(), str(trailing.get("reason", "")), e.details() or "")  # type: ignore[attr-defined]


def methods(*services: d.ServiceDescriptor) -> Iterator[d.MethodDescriptor]:
    for service in services:
        yield from service.methods
