"""Programs the integration tests run as a user's application would: each in a process of
its own, with a third-party client library (which may carry its own copy of etcd's
protos, so it must not share the tests' process)."""
