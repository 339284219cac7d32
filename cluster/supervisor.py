"""The supervisor's control channel: `faultlab up` owns the node processes (their parent,
holding each one's handle), so `faultlab node ...` and `faultlab status`, run from another
terminal, ask it to act and to say how each process is.

One JSON request and one JSON answer per line over a Unix socket in the abstract
namespace (nothing left on disk when the supervisor dies), named in the state file:

    {"op": "control", "verb": "kill", "node": "kv1"}   -> {"ok": true, "result": "killed kv1 ..."}
    {"op": "states"}                                   -> {"ok": true, "result": {"kv1": ...}}

Requests are served one at a time: the cluster object is not thread-safe, and a start
waits for its node to serve.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import uuid
from typing import Any

from cluster.backend import Cluster, ProcessState, Run
from cluster.node_control import NodeControlError, control_node

TIMEOUT_S = 90.0  # a start or restart waits for the node to serve (30 s) and more


class SupervisorError(RuntimeError):
    """The supervisor refused the request (the message says why) or did not answer."""


class SupervisorUnreachable(SupervisorError):
    """The supervisor did not answer: the cluster went away, or is going."""


def serve_node_controls(cluster: Cluster) -> tuple[str, socketserver.BaseServer]:
    """Serve `cluster`'s node controls from a thread; returns the socket's name and the
    server (`shutdown()` it before closing the cluster)."""
    name = f"faultlab-supervisor-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    one_at_a_time = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                try:
                    with one_at_a_time:
                        answer = {"ok": True, "result": _dispatch(cluster, json.loads(line))}
                except (NodeControlError, ValueError, KeyError, RuntimeError) as e:
                    answer = {"ok": False, "error": str(e)}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

    server = socketserver.ThreadingUnixStreamServer("\0" + name, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="supervisor", daemon=True).start()
    return name, server


def _dispatch(cluster: Cluster, request: dict[str, Any]) -> object:
    op = request.get("op")
    if op == "control":
        return control_node(cluster, str(request["verb"]), str(request["node"]))
    if op == "states":
        return {n.id: _encode(cluster.process_state(n.id)) for n in cluster.topology.nodes}
    raise ValueError(f"unknown op {op!r}")


def _encode(state: ProcessState) -> dict[str, Any]:
    return {"run": str(state.run), "exit_code": state.exit_code}


class SupervisorClient:
    def __init__(self, name: str, timeout_s: float = TIMEOUT_S) -> None:
        self.name = name
        self.timeout_s = timeout_s

    def _call(self, request: dict[str, Any]) -> Any:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect("\0" + self.name)
                sock.sendall(json.dumps(request).encode() + b"\n")
                answer = json.loads(sock.makefile("rb").readline())
        except (OSError, ValueError) as e:
            raise SupervisorUnreachable(f"the cluster's supervisor did not answer: {e}") from e
        if not answer["ok"]:
            raise SupervisorError(answer["error"])
        return answer["result"]

    def control(self, verb: str, node_id: str) -> str:
        return str(self._call({"op": "control", "verb": verb, "node": node_id}))

    def states(self) -> dict[str, ProcessState]:
        found = self._call({"op": "states"})
        return {n: ProcessState(Run(s["run"]), s["exit_code"]) for n, s in found.items()}
