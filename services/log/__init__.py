"""The log broker: topics of partitions, each partition its own Raft group."""
