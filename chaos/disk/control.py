"""The lazy disk's control channel: one JSON request and one JSON answer per line, over a
Unix socket in the abstract namespace (no file to leave behind, no path-length limit).

    {"op": "status"}
    {"op": "lose_unsynced", "torn_seed": 7}        # torn_seed optional: a torn power cut
    {"op": "set_faults", "fsync_delay_ms": 50, "fsync_error": false, ...}
    {"op": "clear_faults"}

The socket's name is written to STATE_DIR/control, so anything that knows the run's folder
(the nemesis, `faultlab status`) can find the disk without holding the process that mounted
it.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from chaos.disk.fs import DiskFaults, LazyFs

CONTROL_FILE = "control"


class DiskControlError(RuntimeError):
    """The disk's control socket refused a request or could not be reached."""


def serve_control(fs: LazyFs, name: str) -> socketserver.BaseServer:
    """Serve `fs`'s controls on abstract socket `name` from a thread; returns the server."""

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                try:
                    answer = {"ok": True, "result": _dispatch(fs, json.loads(line))}
                except (ValueError, TypeError, KeyError) as e:
                    answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

    server = socketserver.ThreadingUnixStreamServer("\0" + name, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="disk-control", daemon=True).start()
    return server


def _dispatch(fs: LazyFs, request: dict[str, Any]) -> object:
    op = request.pop("op")
    if op == "status":
        return fs.status()
    if op == "lose_unsynced":
        return dataclasses.asdict(fs.lose_unsynced(request.get("torn_seed")))
    if op == "set_faults":
        fs.faults = dataclasses.replace(fs.faults, **request)  # TypeError on unknown fields
        return dataclasses.asdict(fs.faults)
    if op == "clear_faults":
        fs.faults = DiskFaults()
        return dataclasses.asdict(fs.faults)
    raise ValueError(f"unknown op {op!r}")


class DiskControl:
    """A client of one lazy disk's control socket, found through its state folder."""

    def __init__(self, state_dir: Path, timeout_s: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.timeout_s = timeout_s

    def _call(self, request: dict[str, Any]) -> Any:
        try:
            name = (self.state_dir / CONTROL_FILE).read_text().strip()
        except FileNotFoundError as e:
            raise DiskControlError(f"no lazy disk is mounted from {self.state_dir}") from e
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect("\0" + name)
                sock.sendall(json.dumps(request).encode() + b"\n")
                answer = json.loads(sock.makefile("rb").readline())
        except (OSError, ValueError) as e:
            raise DiskControlError(f"lazy disk at {self.state_dir} did not answer: {e}") from e
        if not answer["ok"]:
            raise DiskControlError(f"lazy disk refused {request}: {answer['error']}")
        return answer["result"]

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call({"op": "status"})
        return result

    def lose_unsynced(self, torn_seed: int | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call({"op": "lose_unsynced", "torn_seed": torn_seed})
        return result

    def set_faults(self, **faults: float | bool) -> dict[str, Any]:
        result: dict[str, Any] = self._call({"op": "set_faults", **faults})
        return result

    def clear_faults(self) -> None:
        self._call({"op": "clear_faults"})
