"""The page's HTTP server (aiohttp): the page and its static files, the cluster's state as
JSON and as a stream of Server-Sent Events, and the controls.

    GET  /                 the page
    GET  /api/state        the latest snapshot (cluster/cli/ui/poller.py)
    GET  /api/stream       Server-Sent Events: "state" (a snapshot, `hz` times a second)
                           and "event" (each event log entry, as it is added)
    GET  /api/events       the event log
    POST /api/actions      {"action": "partition", "sides": [["kv1"], ["kv2", "kv3"]]}, ...
                           200 {"done": "..."}; 400 / 409 / 502 {"error": "..."}

One task polls the cluster and hands each snapshot to every open stream; a stream whose
browser went away is dropped and the server goes on. Actions run in a worker thread, one
at a time (actions.py), so the stream keeps flowing while a node restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from cluster.cli.ui.actions import ActionError, Actions
from cluster.cli.ui.events import EventLog
from cluster.cli.ui.poller import Poller, Snapshot
from cluster.state import ClusterState

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("faultlab.ui")

POLLER: web.AppKey[Poller] = web.AppKey("poller")
ACTIONS: web.AppKey[Actions] = web.AppKey("actions")
EVENTS: web.AppKey[EventLog] = web.AppKey("events")
HUB: web.AppKey[Hub] = web.AppKey("hub")


class Hub:
    """The latest snapshot and the queues of the open streams."""

    def __init__(self) -> None:
        self.latest: Snapshot | None = None
        self._streams: set[asyncio.Queue[tuple[str, Any]]] = set()

    def subscribe(self) -> asyncio.Queue[tuple[str, Any]]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=64)
        self._streams.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, Any]]) -> None:
        self._streams.discard(queue)

    def publish(self, kind: str, data: Any) -> None:
        if kind == "state":
            self.latest = data
        for queue in self._streams:
            if queue.full():  # a slow browser skips snapshots rather than holding memory
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait((kind, data))


def make_app(st: ClusterState, hz: float = 4.0) -> web.Application:
    app = web.Application()
    app[EVENTS] = EventLog()
    app[ACTIONS] = Actions(st)
    app[HUB] = Hub()

    async def polling(app: web.Application) -> Any:
        app[POLLER] = Poller(st)
        task = asyncio.create_task(_poll(app, 1.0 / hz))
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await app[POLLER].close()

    app.cleanup_ctx.append(polling)
    app.router.add_get("/", _page)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/stream", _stream)
    app.router.add_get("/api/events", _events)
    app.router.add_post("/api/actions", _action)
    return app


async def _poll(app: web.Application, every_s: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            app[HUB].publish("state", await app[POLLER].snapshot())
        except Exception:
            log.exception("polling the cluster failed")
        await asyncio.sleep(max(0.0, every_s - (loop.time() - started)))


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    latest = request.app[HUB].latest
    if latest is None:
        latest = await request.app[POLLER].snapshot()
    return web.json_response(latest)


async def _events(request: web.Request) -> web.Response:
    return web.json_response(request.app[EVENTS].since())


async def _stream(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        if hub.latest is not None:
            await _send(response, "state", hub.latest)
        for event in request.app[EVENTS].since():
            await _send(response, "event", event)
        while True:
            kind, data = await queue.get()
            await _send(response, kind, data)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the browser went away: drop its stream, serve the others
    finally:
        hub.unsubscribe(queue)
    return response


async def _send(response: web.StreamResponse, kind: str, data: Any) -> None:
    await response.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())


async def _action(request: web.Request) -> web.Response:
    events, hub = request.app[EVENTS], request.app[HUB]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "the body is not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body is a JSON object"}, status=400)
    try:
        done = await asyncio.to_thread(request.app[ACTIONS].apply, body)
    except ActionError as e:
        hub.publish("event", events.add(str(body.get("action")), str(e), ok=False))
        return web.json_response({"error": str(e)}, status=e.status)
    hub.publish("event", events.add(str(body.get("action")), done))
    return web.json_response({"done": done})


def serve(st: ClusterState, host: str, port: int, hz: float) -> None:
    web.run_app(make_app(st, hz), host=host, port=port, print=None, access_log=None)
