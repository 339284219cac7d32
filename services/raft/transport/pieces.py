"""A Raft message larger than one frame, sent as pieces and put back together: pure.

A snapshot holds a state machine's whole state (every record a partition keeps), far
past the 8 MiB a frame or a gRPC message may hold. Such a message is cut into pieces of
`PIECE_BYTES`, sent one after another on the same connection, each saying which piece
it is and how many there are:

    split(payload)                 -> [piece 0, piece 1, ..., piece n-1]
    Reassembly().add(group, i, n, piece) -> None until piece n-1, then the payload

A connection delivers in order, so a message's pieces arrive together and in order,
unless the sender dropped some (a peer's queue overflows from its oldest end) or the
connection broke between them. Then what was gathered is dropped, as Raft drops any
lost message, and counted: the leader sends the snapshot again when the follower's
next answer shows it still lacks it. Gathering has a bound (`MAX_PIECED_BYTES`): past
it the peer is sending something no node of this protocol sends, a `PieceError`.
"""

from __future__ import annotations

PIECE_BYTES = 4 * 1024 * 1024  # half a frame: room for the frame's own header
MAX_PIECED_BYTES = 4 * 1024 * 1024 * 1024  # a snapshot of 4 GiB; the sender refuses more


class PieceError(ValueError):
    """A piece no sender of this protocol sends: the connection must close."""


class TooLarge(ValueError):
    """A message past `MAX_PIECED_BYTES`: no peer would take it back together."""


def split(payload: bytes, piece_bytes: int = PIECE_BYTES) -> list[bytes]:
    """`payload` in pieces of `piece_bytes` (the last one shorter); at least two."""
    if len(payload) > MAX_PIECED_BYTES:
        raise TooLarge(f"a message of {len(payload)} bytes; pieces carry {MAX_PIECED_BYTES}")
    view = memoryview(payload)
    pieces = [bytes(view[at : at + piece_bytes]) for at in range(0, len(payload), piece_bytes)]
    return pieces if len(pieces) > 1 else [*pieces, b""]


class Reassembly:
    """The message whose pieces one connection is delivering, if any."""

    def __init__(self, limit_bytes: int = MAX_PIECED_BYTES) -> None:
        self._limit = limit_bytes
        self._group = ""
        self._count = 0
        self._next = 0  # the index of the piece that continues the message
        self._pieces: list[bytes] = []
        self._size = 0
        self._skipping = False  # the message's head never came: its pieces are ignored
        self.dropped = 0  # messages given up with pieces missing

    @property
    def gathering(self) -> bool:
        return bool(self._pieces)

    def add(self, group: str, index: int, count: int, piece: bytes) -> bytes | None:
        """The whole payload once `piece` completes it; else None."""
        if count < 2 or not 0 <= index < count:
            raise PieceError(f"piece {index} of {count}")
        follows = index == self._next and group == self._group and count == self._count
        if not follows:
            self.interrupt()  # what was gathered will not be finished
            self._group, self._count = group, count
            if index != 0:  # this message's head was lost: skip the rest of it
                self.dropped += 1
                self._skipping = True
        if self._skipping:
            self._next = index + 1
            if self._next == count:
                self._reset()
            return None
        self._size += len(piece)
        if self._size > self._limit:
            raise PieceError(f"a message in pieces past {self._limit} bytes")
        self._pieces.append(piece)
        self._next = index + 1
        if self._next < count:
            return None
        whole = b"".join(self._pieces)
        self._reset()
        return whole

    def interrupt(self) -> None:
        """Something other than the next piece came: the message gathered is lost."""
        if self._count:  # nothing is gathered on most calls: one check, no writes
            if self._pieces:
                self.dropped += 1
            self._reset()

    def _reset(self) -> None:
        self._group, self._count, self._next = "", 0, 0
        self._pieces = []
        self._size = 0
        self._skipping = False
