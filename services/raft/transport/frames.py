"""The framed TCP transport's wire format, pure: bytes in, frames out.

A connection carries frames one way, from the node that dialled to the node it dialled.
Each frame is a 4-byte big-endian length, then that many bytes: a kind byte and its body.

    HELLO    b"\\x01" + MAGIC + sender's node id (UTF-8)      the first frame, and only then
    MESSAGE  b"\\x02" + group length (2 bytes) + group (UTF-8) + a Raft message (codec.py)
    PIECE    b"\\x03" + group length + group + index (4 bytes) + count (4 bytes) + bytes:
             piece `index` of a Raft message too large for one frame (pieces.py)

Everything a peer may get wrong is a `FrameError` naming what: a length past the limit
(refused from the header alone, before its body is buffered), an unknown kind, a short
body. The connection it came on is closed; nothing partial is delivered.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from services.runtime.grpc_options import MAX_MESSAGE_BYTES

MAGIC = b"faultlab-raft/1:"
HELLO = 1
MESSAGE = 2
PIECE = 3
# A frame is one Raft message, or a piece of one, bounded as gRPC's messages are.
MAX_FRAME_BYTES = MAX_MESSAGE_BYTES
_LENGTH = struct.Struct(">I")
_GROUP_LENGTH = struct.Struct(">H")
_PIECE = struct.Struct(">II")  # index, count


class FrameError(ValueError):
    """What a peer sent is not a frame of this protocol; the connection must close."""


@dataclass(frozen=True)
class Frame:
    kind: int
    name: str  # HELLO: the sender's node id; MESSAGE, PIECE: the Raft group's id
    payload: bytes = b""  # MESSAGE: the encoded Raft message; PIECE: a piece of one
    index: int = 0  # PIECE: which piece, from 0
    count: int = 0  # PIECE: how many pieces the message is in


def hello(node_id: str) -> bytes:
    return _framed(bytes([HELLO]) + MAGIC + node_id.encode())


def message(group: str, encoded: bytes) -> bytes:
    """One frame; a message past `pieces.PIECE_BYTES` goes as `piece` frames instead."""
    return _framed(bytes([MESSAGE]) + _group(group) + encoded)


def piece(group: str, index: int, count: int, part: bytes) -> bytes:
    """Piece `index` of `count` of a message too large for one frame (pieces.split)."""
    return _framed(bytes([PIECE]) + _group(group) + _PIECE.pack(index, count) + part)


def _group(group: str) -> bytes:
    name = group.encode()
    return _GROUP_LENGTH.pack(len(name)) + name


def _framed(body: bytes) -> bytes:
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {len(body)} bytes is past the limit of {MAX_FRAME_BYTES}")
    return _LENGTH.pack(len(body)) + body


class FrameReader:
    """Frames from a byte stream fed in pieces of any size (as TCP delivers them)."""

    def __init__(self, limit_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit_bytes

    @property
    def partial(self) -> bool:
        """Bytes of an unfinished frame are held: a stream ending now was truncated."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        view = memoryview(self._buffer)
        at = 0
        try:
            while len(view) - at >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(view, at)
                if length > self._limit:
                    raise FrameError(
                        f"a frame of {length} bytes is past the limit of {self._limit}"
                    )
                end = at + _LENGTH.size + length
                if end > len(view):
                    break
                frames.append(_parse(view[at + _LENGTH.size : end]))
                at = end
        finally:
            view.release()
        del self._buffer[:at]
        return frames


def _parse(body: memoryview) -> Frame:
    """A frame's body, read in place: the payload is the one copy made of it."""
    if not body:
        raise FrameError("an empty frame")
    kind = body[0]
    if kind == HELLO:
        if body[1 : 1 + len(MAGIC)] != MAGIC:
            raise FrameError("a hello without this protocol's magic")
        return Frame(HELLO, _text(body[1 + len(MAGIC) :], "a node id"))
    if kind == MESSAGE:
        group, end = _group_at(body)
        return Frame(MESSAGE, group, bytes(body[end:]))
    if kind == PIECE:
        group, end = _group_at(body)
        if len(body) < end + _PIECE.size:
            raise FrameError("a piece frame too short for its index and count")
        index, count = _PIECE.unpack_from(body, end)
        return Frame(PIECE, group, bytes(body[end + _PIECE.size :]), index, count)
    raise FrameError(f"unknown frame kind {kind}")


def _group_at(body: memoryview) -> tuple[str, int]:
    """The group id after the kind byte, and where what follows it starts."""
    if len(body) < 1 + _GROUP_LENGTH.size:
        raise FrameError("a message frame too short for its group")
    (length,) = _GROUP_LENGTH.unpack_from(body, 1)
    start = 1 + _GROUP_LENGTH.size
    if len(body) < start + length:
        raise FrameError("a message frame shorter than its group's length")
    return _text(body[start : start + length], "a group id"), start + length


def _text(raw: memoryview, what: str) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError:
        raise FrameError(f"{what} that is not UTF-8") from None
