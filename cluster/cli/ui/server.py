"""The page's HTTP server (aiohttp): the page and its static files, the cluster's state as
JSON and as a stream of Server-Sent Events, and the controls.

    GET  /                 the page
    GET  /api/state        the latest snapshot (cluster/cli/ui/poller.py)
    GET  /api/stream       Server-Sent Events: "state" (a snapshot, `hz` times a second)
                           and "event" (each event log entry, as it is added)
    GET  /api/events       the event log
    GET  /api/rates        per topology group, a point a second for the last three minutes:
                           proposals applied per second, p50 and p99 (cluster/cli/ui/rates.py);
                           the stream sends each new point as a "rates" event, and the
                           clocks and disks as a "devices" event, once a second
    POST /api/actions      {"action": "partition", "sides": [["kv1"], ["kv2", "kv3"]]}, ...
                           200 {"done": "..."}; 400 / 409 / 502 {"error": "..."}
    GET  /api/experiments  the catalogue
    POST /api/experiments/run  {"name": "stale-read", "mode": "both", "duration_s": 12,
                           "seed": 1}: `faultlab chaos run` in a process of its own; its
                           progress and lines arrive on the stream as "run" events
    GET  /api/runs         past runs (every mode of every run folder), newest first
    GET  /api/runs/RUN/MODE/report     {"html": the report, rendered}
    GET  /api/runs/RUN/MODE/timeline   the history, as operations and fault windows
    GET  /api/runs/RUN/MODE/files/NAME report.md, timeline.png, history.jsonl, ...

One task polls the cluster and hands each snapshot to every open stream; a stream whose
browser went away is dropped and the server goes on. Actions run in a worker thread, one
at a time (actions.py), so the stream keeps flowing while a node restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from cluster.cli.ui.actions import ActionError, Actions
from cluster.cli.ui.events import EventLog
from cluster.cli.ui.poller import Poller, Snapshot
from cluster.cli.ui.rates import Rates
from cluster.cli.ui.runs import RunError, Running, Runs, catalogue
from cluster.state import ClusterState

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("faultlab.ui")

POLLER: web.AppKey[Poller] = web.AppKey("poller")
ACTIONS: web.AppKey[Actions] = web.AppKey("actions")
EVENTS: web.AppKey[EventLog] = web.AppKey("events")
HUB: web.AppKey[Hub] = web.AppKey("hub")
RUNS: web.AppKey[Runs] = web.AppKey("runs")
RATES: web.AppKey[Rates] = web.AppKey("rates")


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


def make_app(st: ClusterState, runs: Path, hz: float = 4.0) -> web.Application:
    app = web.Application()
    app[EVENTS] = EventLog()
    app[ACTIONS] = Actions(st)
    app[HUB] = Hub()
    app[RUNS] = Runs(runs)
    app[RATES] = Rates(st.topology())

    async def polling(app: web.Application) -> Any:
        app[POLLER] = Poller(st)
        hub, http = app[HUB], httpx.AsyncClient()

        async def state() -> None:
            hub.publish("state", await app[POLLER].snapshot())

        async def rates_and_devices() -> None:
            hub.publish("rates", await app[RATES].scrape(http))
            hub.publish("devices", await asyncio.to_thread(app[POLLER].devices))

        tasks = [
            asyncio.create_task(_periodically(1.0 / hz, state, "polling the cluster")),
            asyncio.create_task(_periodically(1.0, rates_and_devices, "reading the metrics")),
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.aclose()
        await app[POLLER].close()
        await app[RUNS].stop()

    app.cleanup_ctx.append(polling)
    app.router.add_get("/", _page)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/state", _state)
    app.router.add_get("/api/stream", _stream)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/api/rates", _rates)
    app.router.add_post("/api/actions", _action)
    app.router.add_get("/api/experiments", _experiments)
    app.router.add_post("/api/experiments/run", _run)
    app.router.add_get("/api/runs", _runs)
    app.router.add_get("/api/runs/{run}/{mode}/report", _report)
    app.router.add_get("/api/runs/{run}/{mode}/timeline", _timeline)
    app.router.add_get("/api/runs/{run}/{mode}/files/{name}", _file)
    return app


async def _periodically(every_s: float, step: Callable[[], Awaitable[None]], what: str) -> None:
    """`step` every `every_s`, its own time included, for ever: the state at the page's
    pace, the rates and devices once a second. A failed step is logged; the next runs."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(max(0.0, every_s - (loop.time() - started)))


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    latest = request.app[HUB].latest
    if latest is None:
        latest = await request.app[POLLER].snapshot()
    return web.json_response(latest)


async def _rates(request: web.Request) -> web.Response:
    series = request.app[RATES].series
    return web.json_response({group: list(points) for group, points in series.items()})


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


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _refused("the body is not JSON", 400) from None
    if not isinstance(body, dict):
        raise _refused("the body is a JSON object", 400)
    return body


ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    502: web.HTTPBadGateway,
}


def _refused(message: str, status: int) -> web.HTTPException:
    """The answer to a request refused: its status, and {"error": message}."""
    return ERRORS[status](text=json.dumps({"error": message}), content_type="application/json")


async def _action(request: web.Request) -> web.Response:
    events, hub = request.app[EVENTS], request.app[HUB]
    body = await _body(request)
    try:
        done = await asyncio.to_thread(request.app[ACTIONS].apply, body)
    except ActionError as e:
        hub.publish("event", events.add(str(body.get("action")), str(e), ok=False))
        return web.json_response({"error": str(e)}, status=e.status)
    hub.publish("event", events.add(str(body.get("action")), done))
    return web.json_response({"done": done})


async def _experiments(request: web.Request) -> web.Response:
    return web.json_response(catalogue())


async def _run(request: web.Request) -> web.Response:
    body = await _body(request)
    hub, events = request.app[HUB], request.app[EVENTS]

    def heard(running: Running, line: str | None) -> None:
        hub.publish("run", _progress(running, line))
        if line is None:
            verdict = "as hypothesized" if running.exit_code == 0 else "NOT as hypothesized"
            if running.exit_code not in (0, 1):
                verdict = f"failed to run (exit {running.exit_code})"
            ok = running.exit_code == 0
            hub.publish("event", events.add("experiment", f"{running.name}: {verdict}", ok))

    try:
        running = await request.app[RUNS].start(body, heard)
    except RunError as e:
        raise _refused(str(e), e.status) from None
    hub.publish("event", events.add("experiment", f"{running.name} started"))
    return web.json_response(_progress(running, None))


def _progress(running: Running, line: str | None) -> dict[str, Any]:
    return {
        "name": running.name,
        "line": line,
        "elapsed_s": round(time.monotonic() - running.started_s, 1),
        "expected_s": running.expected_s,
        "exit_code": running.exit_code,
        "folder": running.folder.name,
    }


async def _runs(request: web.Request) -> web.Response:
    return web.json_response(request.app[RUNS].past())


def _run_part(request: web.Request, part: Any) -> Any:
    info = request.match_info
    try:
        return part(info["run"], info["mode"], *([info["name"]] if "name" in info else []))
    except RunError as e:
        raise _refused(str(e), e.status) from None


async def _report(request: web.Request) -> web.Response:
    html = await asyncio.to_thread(_run_part, request, request.app[RUNS].report_html)
    return web.json_response({"html": html})


async def _timeline(request: web.Request) -> web.Response:
    return web.json_response(
        await asyncio.to_thread(_run_part, request, request.app[RUNS].timeline)
    )


async def _file(request: web.Request) -> web.FileResponse:
    return web.FileResponse(_run_part(request, request.app[RUNS].path))


def serve(st: ClusterState, runs: Path, host: str, port: int, hz: float) -> None:
    app = make_app(st, runs, hz)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
