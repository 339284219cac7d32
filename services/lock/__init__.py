"""The lock service: sessions with a TTL, named locks with FIFO waiters and fencing tokens,
a state machine on Raft served as faultlab.lock.v1.Lock."""
