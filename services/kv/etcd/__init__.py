"""etcd's v3 API on the KV nodes, over the same store as faultlab.kv.v1 (docs/etcd.md)."""
