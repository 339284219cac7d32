"""The replicated key-value store: a state machine on Raft, served as faultlab.kv.v1.KV."""
