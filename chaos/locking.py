"""Clients that protect a read-modify-write with a lock, and record what they saw.

The protected state is a set kept in one KV key (a JSON list): a client takes the lock,
reads the set, adds its own element and writes the set back, then releases. If two
clients ever both act as holder, one's write replaces the other's and an acknowledged
element disappears: a lost update, which the lock checker counts. A fenced client sends
its token with the write, and the store refuses a token lower than one it has accepted.

History operations (Jepsen's shape; `key` is the lock name or the KV key):

    acquire   lock   invoke: session id        ok: the fencing token
    release   lock   invoke: session id
    read-set  key    ok: the members read
    add       key    invoke: [element, token]  ok: the store's revision of the write
    expire    lock   invoke/ok: the session the service expired (seen on its Watch)

The same functions serve an in-process client (recording into a History) and the lock
holder process of chaos/lock_holder.py (printing each event as a JSON line).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import grpc

from chaos.history import History, OpType
from chaos.workload import failure_fields, outcome_of
from cluster.client import KvClient, LockBusy, LockSession

# record(type, f, key, value=..., error=..., reason=...): one event of one client
Record = Callable[..., None]


def recorder(history: History, process: str) -> Record:
    def record(type: OpType, f: str, key: str, **fields: Any) -> None:
        history.record(process, type, f, key=key, **fields)

    return record


def printer(process: str) -> Record:
    """A Record for a client in another process: one JSON line per event on stdout, with
    its monotonic time, which the parent records as it is (see `replay`)."""

    def record(type: OpType, f: str, key: str, **fields: Any) -> None:
        line = {
            "process": process,
            "type": type,
            "f": f,
            "key": key,
            "at_ns": time.monotonic_ns(),
            **fields,
        }
        print(json.dumps(line), flush=True)

    return record


def replay(line: str, history: History) -> dict[str, Any] | None:
    """Record a line `printer` wrote; returns it, or None if it is not an event."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or "type" not in event:
        return None
    history.record(event.pop("process"), event.pop("type"), event.pop("f"), **event)
    return event


async def acquire(session: LockSession, lock: str, record: Record, wait_s: float) -> int | None:
    record("invoke", "acquire", lock, value=session.id)
    try:
        token = await session.acquire(lock, wait=True, timeout_s=wait_s)
    except LockBusy:
        record("fail", "acquire", lock, error="BUSY")
        return None
    except grpc.aio.AioRpcError as e:
        record(outcome_of(e), "acquire", lock, **failure_fields(e))
        return None
    record("ok", "acquire", lock, value=token)
    return token


async def release(session: LockSession, lock: str, record: Record) -> None:
    record("invoke", "release", lock, value=session.id)
    try:
        await session.release(lock)
    except grpc.aio.AioRpcError as e:
        record(outcome_of(e), "release", lock, **failure_fields(e))
        return
    record("ok", "release", lock)


async def read_set(kv: KvClient, key: str, record: Record) -> list[str] | None:
    record("invoke", "read-set", key)
    try:
        resp = await kv.get(key)
    except grpc.aio.AioRpcError as e:
        record("fail", "read-set", key, **failure_fields(e))  # a read changes nothing
        return None
    members: list[str] = json.loads(resp.kv.value) if resp.found else []
    record("ok", "read-set", key, value=members)
    return members


async def add(
    kv: KvClient,
    key: str,
    members: list[str],
    element: str,
    lock: str,
    token: int,
    fenced: bool,
    record: Record,
) -> bool:
    """Write `members` + `element` back: the second half of the read-modify-write."""
    record("invoke", "add", key, value=[element, token])
    value = json.dumps([*members, element]).encode()
    try:
        resp = await kv.put(key, value, fence=(lock, token) if fenced else None)
    except grpc.aio.AioRpcError as e:
        record(outcome_of(e), "add", key, **failure_fields(e))
        return False
    record("ok", "add", key, value=resp.revision)
    return True
