"""TcpTransport between real sockets on 127.0.0.1, in one process: messages arrive in
order and for the right group, a peer that restarts is redialled, and what piles up for
an unreachable peer stays bounded, the oldest dropped first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cluster.ports import free_ports
from services.raft.messages import Message, MessageType
from services.raft.transport import TcpTransport
from services.raft.transport.tcp import QUEUE_LIMIT

pytestmark = pytest.mark.integration

WAIT_S = 10.0


def heartbeat(src: str, dst: str, term: int) -> Message:
    return Message(MessageType.HEARTBEAT, src, dst, term)


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, Message]] = []
        self._changed = asyncio.Event()

    def deliver_for(self, group: str) -> object:
        def deliver(msg: Message) -> None:
            self.got.append((group, msg))
            self._changed.set()

        return deliver

    async def until(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while len(self.got) < count:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[TcpTransport, TcpTransport, Inbox, str]]:
    port_a, port_b = free_ports(2)
    b_address = f"127.0.0.1:{port_b}"
    a = TcpTransport("a", {"b": b_address})
    b = TcpTransport("b", {"a": f"127.0.0.1:{port_a}"})
    inbox = Inbox()
    for group in ("g1", "g2"):
        b.register(group, inbox.deliver_for(group))  # type: ignore[arg-type]
    await a.listen(f"127.0.0.1:{port_a}")
    await b.listen(b_address)
    a.start()
    b.start()
    try:
        yield a, b, inbox, b_address
    finally:
        await a.stop()
        await b.stop()


async def test_messages_arrive_in_order_for_their_group(
    pair: tuple[TcpTransport, TcpTransport, Inbox, str],
) -> None:
    a, _, inbox, _ = pair
    for term in range(1, 1001):  # one loop turn: they leave in one write
        a.send("g1" if term % 2 else "g2", heartbeat("a", "b", term))
    a.send("unhosted", heartbeat("a", "b", 0))  # dropped there, as a lost message
    await inbox.until(1000)
    assert [m.term for _, m in inbox.got] == list(range(1, 1001))
    assert all(g == ("g1" if m.term % 2 else "g2") for g, m in inbox.got)


async def test_a_restarted_peer_is_redialled(
    pair: tuple[TcpTransport, TcpTransport, Inbox, str],
) -> None:
    a, b, inbox, b_address = pair
    a.send("g1", heartbeat("a", "b", 1))
    await inbox.until(1)
    await b.stop()
    again = TcpTransport("b", {"a": "127.0.0.1:1"})
    again.register("g1", inbox.deliver_for("g1"))  # type: ignore[arg-type]
    await again.listen(b_address)
    try:
        async with asyncio.timeout(WAIT_S):  # A redials once it sees its connection die
            while "a" not in again.senders():
                await asyncio.sleep(0.01)
        a.send("g1", heartbeat("a", "b", 2))
        await inbox.until(2)
        assert inbox.got[-1][1].term == 2
    finally:
        await again.stop()


async def test_what_waits_for_an_unreachable_peer_is_bounded_oldest_dropped() -> None:
    port_a, port_b = free_ports(2)
    a = TcpTransport("a", {"b": f"127.0.0.1:{port_b}"})  # nobody listens there yet
    await a.listen(f"127.0.0.1:{port_a}")
    a.start()
    inbox = Inbox()
    b = TcpTransport("b", {"a": f"127.0.0.1:{port_a}"})  # accepts a; never dials it
    b.register("g1", inbox.deliver_for("g1"))  # type: ignore[arg-type]
    try:
        for term in range(1, QUEUE_LIMIT + 101):
            a.send("g1", heartbeat("a", "b", term))
        await b.listen(f"127.0.0.1:{port_b}")
        await inbox.until(QUEUE_LIMIT)
        terms = [m.term for _, m in inbox.got]
        assert terms == list(range(101, QUEUE_LIMIT + 101)), "the newest kept, in order"
    finally:
        await a.stop()
        await b.stop()
