"""Durable Raft storage: a write-ahead log of framed msgpack records in segment files."""
