"""Raft storage: the `Storage` seam, the durable `RaftStorage` (a write-ahead log of framed
msgpack records in segment files, snapshot files beside it) and its in-memory twin."""

from services.raft.storage.memory import MemoryStorage
from services.raft.storage.protocol import Storage
from services.raft.storage.store import RaftStorage
from services.raft.storage.wal import CorruptWal, FsyncPolicy, WriteAheadLog

__all__ = ["CorruptWal", "FsyncPolicy", "MemoryStorage", "RaftStorage", "Storage", "WriteAheadLog"]
