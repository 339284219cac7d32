"""Durable Raft storage: a write-ahead log of framed msgpack records in segment files, and
snapshot files beside it."""

from services.raft.storage.store import RaftStorage
from services.raft.storage.wal import CorruptWal, FsyncPolicy, WriteAheadLog

__all__ = ["CorruptWal", "FsyncPolicy", "RaftStorage", "WriteAheadLog"]
