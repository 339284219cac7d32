"""Where the gateway sends a log call: to the leader of the partition it names, and a
ProduceMany to the leader of its first batch's partition."""

from __future__ import annotations

import pytest
from faultlab.log.v1 import log_pb2

from services.gateway.routes import build_routes
from services.runtime.errors import InvalidArgument

ROUTES = build_routes()


def produce(topic: str, partition: int) -> log_pb2.ProduceRequest:
    return log_pb2.ProduceRequest(topic=topic, partition=partition)


def test_a_produce_goes_to_its_partition() -> None:
    route = ROUTES["/faultlab.log.v1.Log/Produce"]
    assert route.key(produce("orders", 3).SerializeToString()) == "log/orders/3"
    assert route.key(produce("orders", -1).SerializeToString()) == "log/any"


def test_a_produce_many_goes_to_its_first_batch_partition_and_is_never_repeated() -> None:
    route = ROUTES["/faultlab.log.v1.Log/ProduceMany"]
    request = log_pb2.ProduceManyRequest(batches=[produce("orders", 2), produce("orders", 5)])
    assert route.key(request.SerializeToString()) == "log/orders/2"
    assert route.key(log_pb2.ProduceManyRequest().SerializeToString()) == "log/any"
    assert not route.idempotent(request.SerializeToString())
    with pytest.raises(InvalidArgument):
        route.key(b"\xff\xff")
