"""`faultlab log ...`: the log broker of the running cluster, from the command line.

faultlab log topic create orders --partitions 6
seq 10 | faultlab log produce orders            # one record per line
faultlab log consume orders --from-beginning    # until Ctrl-C
faultlab log --via-gateway topic list            # through a gateway, with --api-key
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from faultlab.log.v1 import log_pb2
from rich.console import Console
from rich.table import Table

from cluster.cli.calling import GatewayRoute, run_with_client
from cluster.cli.durations import parse_ms
from cluster.client import LogClient
from cluster.client.consumer import GroupConsumer
from cluster.client.log import ALL, LEADER

app = typer.Typer(no_args_is_help=True)
topic_app = typer.Typer(no_args_is_help=True)
app.add_typer(topic_app, name="topic", help="Create, delete, list and describe topics.")
console = Console()
READY_BASE_S, READY_PER_PARTITION_S = 30.0, 0.25  # how long `topic create` waits for leaders
err = Console(stderr=True)
PRODUCE_BATCH = 500  # lines from stdin sent as one batch, at most


route = GatewayRoute(app, "log")


def _run(action: Callable[[LogClient], Awaitable[Any]]) -> Any:
    return run_with_client(route.client_for(LogClient.for_topology, LogClient.for_gateway), action)


@topic_app.command("create")
def create(
    name: str,
    partitions: int = typer.Option(3, "--partitions", "-p"),
    replication: int = typer.Option(0, "--replication", "-r", help="0: min(3, log nodes)"),
    retention_records: int = typer.Option(0, "--retention-records", help="0: unlimited"),
    retention_bytes: int = typer.Option(0, "--retention-bytes", help="0: unlimited"),
    retention_age: str = typer.Option("", "--retention-age", help="e.g. 10m; none: unlimited"),
) -> None:
    """Create a topic and wait until every partition has a leader."""
    retention = log_pb2.Retention(
        max_records=retention_records,
        max_bytes=retention_bytes,
        max_age_ms=parse_ms(retention_age) if retention_age else 0,
    )

    async def go(c: LogClient) -> log_pb2.Topic:
        topic = await c.create_topic(name, partitions, replication, retention)
        with console.status(f"waiting for {name}'s leaders") as status:

            def progress(ready: int, total: int) -> None:
                status.update(f"waiting for {name}'s leaders: {ready} of {total} partitions led")

            # a leader per partition: elections in parallel, a second or so each at worst
            wait_s = READY_BASE_S + READY_PER_PARTITION_S * partitions
            await c.wait_until_ready(name, timeout_s=wait_s, on_progress=progress)
        return topic

    topic = _run(go)
    console.print(
        f"created {name}: {len(topic.partitions)} partitions, replication {topic.replication}",
        highlight=False,
    )


@topic_app.command("delete")
def delete(name: str) -> None:
    """Delete a topic and every record in it."""
    _run(lambda c: c.delete_topic(name))
    console.print(f"deleted {name}")


@topic_app.command("list")
def list_topics() -> None:
    """Every topic, with its partitions and replication."""
    topics = _run(lambda c: c.list_topics())
    table = Table("topic", "partitions", "replication", "retention")
    for t in topics:
        table.add_row(t.name, str(len(t.partitions)), str(t.replication), _retention(t.retention))
    console.print(table)


@topic_app.command("describe")
def describe(name: str) -> None:
    """Each partition: replicas, leader, high watermark, log start offset."""
    topic = _run(lambda c: c.describe_topic(name))
    table = Table("partition", "leader", "replicas", "high watermark", "log start", "raft group")
    for p in topic.partitions:
        table.add_row(
            str(p.partition),
            p.leader or "?",
            ",".join(p.replicas),
            _offset(p.high_watermark),
            _offset(p.log_start_offset),
            p.group,
        )
    console.print(
        f"{topic.name}: replication {topic.replication}, retention {_retention(topic.retention)}",
        highlight=False,
    )
    console.print(table)


@app.command()
def produce(
    topic: str,
    key: str = typer.Option("", "--key", "-k", help="every record's key (picks the partition)"),
    partition: int = typer.Option(-1, "--partition", "-p", help="-1: by key, or round robin"),
    acks: str = typer.Option("all", "--acks", help="all (committed) or leader (unsafe)"),
) -> None:
    """Send each line of stdin as a record; print where each batch landed."""
    if acks not in ("all", "leader"):
        err.print("--acks is all or leader")
        raise typer.Exit(2)
    lines = [line.rstrip("\n").encode() for line in sys.stdin]
    if not lines:
        err.print("nothing to produce: stdin was empty")
        raise typer.Exit(2)

    async def go(c: LogClient) -> None:
        for i in range(0, len(lines), PRODUCE_BATCH):
            batch = lines[i : i + PRODUCE_BATCH]
            resp = await c.produce(
                topic,
                batch,
                key=key.encode() or None,
                partition=None if partition < 0 else partition,
                acks=LEADER if acks == "leader" else ALL,
            )
            where = f"offset {resp.base_offset}" if resp.base_offset >= 0 else "uncommitted"
            console.print(
                f"{len(batch)} records -> partition {resp.partition} {where}", highlight=False
            )

    _run(go)


@app.command()
def consume(
    topic: str,
    partition: int = typer.Option(-1, "--partition", "-p", help="-1: every partition"),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    count: int = typer.Option(0, "--count", "-n", help="stop after this many (0: never)"),
    group: str = typer.Option("", "--group", "-g", help="consume as a member of this group"),
) -> None:
    """Print records as they commit (`partition offset key value`), until Ctrl-C. With
    --group: as a group member, from the group's committed offsets, committing as it goes."""
    if group:
        _run(lambda c: _consume_in_group(c, topic, group, count))
        return

    async def go(c: LogClient) -> None:
        described = await c.describe_topic(topic)
        partitions = [partition] if partition >= 0 else [p.partition for p in described.partitions]
        starts = {
            p.partition: p.log_start_offset if from_beginning else p.high_watermark
            for p in described.partitions
        }
        printed = 0
        done = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, done.set)

        async def follow(p: int) -> None:
            nonlocal printed
            async for r in c.subscribe(topic, p, max(0, starts.get(p, 0))):
                console.print(
                    f"{p} {r.offset} {r.key.decode(errors='replace')} "
                    f"{r.value.decode(errors='replace')}",
                    highlight=False,
                )
                printed += 1
                if count and printed >= count:
                    done.set()

        tasks = [asyncio.create_task(follow(p)) for p in partitions]
        stopped = asyncio.create_task(done.wait())
        await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in [stopped, *tasks]:
            task.cancel()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    _run(go)


async def _consume_in_group(c: LogClient, topic: str, group: str, count: int) -> None:
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, done.set)
    printed = 0
    async with GroupConsumer(c, group, [topic], client_id=f"cli-{os.getpid()}") as member:
        while not done.is_set():
            for _, p, r in await member.poll():
                console.print(
                    f"{p} {r.offset} {r.key.decode(errors='replace')} "
                    f"{r.value.decode(errors='replace')}",
                    highlight=False,
                )
                printed += 1
            if member.positions:
                await member.commit()
            if count and printed >= count:
                return
            if not member.positions:  # nothing assigned (more members than partitions)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await done.wait()


@app.command()
def groups() -> None:
    """Every consumer group: generation, members and their partitions, committed offsets."""
    listed = _run(lambda c: c.list_groups())
    table = Table("group", "generation", "members", "committed offsets")
    for g in listed:
        members = (
            "\n".join(
                f"{m.member_id}: "
                + ", ".join(
                    f"{tp.topic}[{','.join(map(str, tp.partitions))}]" for tp in m.assignment
                )
                for m in g.members
            )
            or "-"
        )
        offsets = ", ".join(f"{o.topic}/{o.partition}={o.offset}" for o in g.offsets) or "-"
        table.add_row(g.group, str(g.generation), members, offsets)
    console.print(table)


def _retention(r: log_pb2.Retention) -> str:
    parts = [
        f"{r.max_records} records" if r.max_records else "",
        f"{r.max_bytes} bytes" if r.max_bytes else "",
        f"{r.max_age_ms} ms" if r.max_age_ms else "",
    ]
    return ", ".join(p for p in parts if p) or "unlimited"


def _offset(offset: int) -> str:
    return "?" if offset < 0 else str(offset)
