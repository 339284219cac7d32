"""aetcd (PyPI), a Python etcd client, against one endpoint: put and get, a prefix range,
a watch from a past revision, a lease whose keys go when it is revoked. Prints what it
saw as one JSON object.

    python tests/clients/aetcd_session.py HOST:PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aetcd


async def session(host: str, port: int) -> dict[str, Any]:
    async with aetcd.Client(host=host, port=port, timeout=10) as etcd:
        put = await etcd.put(b"py/a", b"1")
        await etcd.put(b"py/b", b"2")
        got = await etcd.get(b"py/a")
        ranged = [(kv.key.decode(), kv.value.decode()) async for kv in _items(etcd)]

        watch = await etcd.watch(b"py/", range_end=b"py0", start_revision=put.header.revision)
        await etcd.put(b"py/a", b"3")
        seen = []
        async for event in watch:
            seen.append([str(event.kind), event.kv.key.decode(), event.kv.value.decode()])
            if len(seen) == 3:
                break
        await watch.cancel()

        lease = await etcd.lease(30)
        await etcd.put(b"py/leased", b"x", lease=lease)
        kept = await lease.refresh()
        info = await etcd.get_lease_info(lease.id, keys=True)
        await lease.revoke()
        gone = await etcd.get(b"py/leased")
        return {
            "get": got.value.decode(),
            "range": ranged,
            "watch": seen,
            "keepalive_ttl": kept.TTL,
            "lease_keys": [k.decode() for k in info.keys],
            "after_revoke": gone is None,
        }


async def _items(etcd: aetcd.Client) -> Any:
    for kv in await etcd.get_prefix(b"py/"):
        yield kv


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    print(json.dumps(asyncio.run(session(host, int(port)))))


if __name__ == "__main__":
    main()
