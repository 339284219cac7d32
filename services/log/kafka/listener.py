"""The Kafka listener of a log node: a TCP server on the node's wire port whose every
connection is a `wire.Connection`, answered by the handlers of this package."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping

from services.log.kafka import apis, fetch, groups, produce, topics
from services.log.kafka.door import Door
from services.log.kafka.wire import Connection, Handler
from services.runtime import logs

log = logging.getLogger("faultlab.log.kafka")


def handlers(door: Door, classic: groups.ClassicGroups) -> Mapping[int, Handler]:
    by_door = {
        apis.API_VERSIONS: topics.api_versions,
        apis.METADATA: topics.metadata,
        apis.CREATE_TOPICS: topics.create_topics,
        apis.DELETE_TOPICS: topics.delete_topics,
        apis.INIT_PRODUCER_ID: topics.init_producer_id,
        apis.FIND_COORDINATOR: topics.find_coordinator,
        apis.PRODUCE: produce.produce,
        apis.FETCH: fetch.fetch,
        apis.LIST_OFFSETS: fetch.list_offsets,
    }
    table: dict[int, Handler] = {k: functools.partial(h, door) for k, h in by_door.items()}
    table |= {
        apis.JOIN_GROUP: classic.join_group,
        apis.SYNC_GROUP: classic.sync_group,
        apis.HEARTBEAT: classic.heartbeat,
        apis.LEAVE_GROUP: classic.leave_group,
        apis.OFFSET_COMMIT: classic.offset_commit,
        apis.OFFSET_FETCH: classic.offset_fetch,
        apis.DESCRIBE_GROUPS: classic.describe_groups,
        apis.LIST_GROUPS: classic.list_groups,
    }
    assert set(table) == set(apis.SUPPORTED), set(apis.SUPPORTED) ^ set(table)
    return table


async def serve(address: str, door: Door) -> None:
    """Serve Kafka clients at `address` until cancelled."""
    classic = groups.ClassicGroups(door)
    table = handlers(door, classic)
    connections: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await Connection(table, reader, writer).serve()
        finally:
            connections.discard(task)

    host, port = address.rsplit(":", 1)
    server = await asyncio.start_server(connected, host, int(port), reuse_address=True)
    logs.event(log, "kafka_listening", address=address)
    try:
        async with server:
            await asyncio.gather(server.serve_forever(), classic.run())
    finally:
        for task in list(connections):
            task.cancel()
