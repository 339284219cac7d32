"""The SDK's stub cache: one stub per (channel, service), gone with its channel."""

from __future__ import annotations

import gc
import weakref

import grpc
import pytest
from faultlab.kv.v1 import kv_pb2_grpc
from faultlab.log.v1 import log_pb2_grpc

from cluster.client.stubs import stub


@pytest.mark.asyncio
async def test_one_stub_per_channel_and_service_dropped_with_the_channel() -> None:
    first = grpc.aio.insecure_channel("127.0.0.1:1")  # never dialled: stubs connect lazily
    second = grpc.aio.insecure_channel("127.0.0.1:1")
    try:
        log_stub = stub(first, log_pb2_grpc.LogStub)
        assert stub(first, log_pb2_grpc.LogStub) is log_stub
        assert stub(first, kv_pb2_grpc.KVStub) is not log_stub
        assert stub(second, log_pb2_grpc.LogStub) is not log_stub
    finally:
        await first.close()
        await second.close()
    gone = weakref.ref(first)
    del first, log_stub
    gc.collect()
    assert gone() is None, "a cached stub kept its channel alive"
