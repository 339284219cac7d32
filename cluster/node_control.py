"""`faultlab node kill|stop|start|restart|pause|resume NODE`, as rules over any backend.

The verbs call the same `Cluster` methods the nemesis calls (cluster/backend.py), on the
process backend inside the supervisor that owns the processes (cluster/supervisor.py), on
the compose backend through the Docker engine. A verb that does not apply to the node's
state (resume of a running node, start of a running one) is refused with the reason.

    kill     SIGKILL: no clean-up, nothing unflushed survives      running or paused
    stop     SIGTERM: a leader hands over first, then it exits      running
    start    start the node again and wait until it serves          stopped
    restart  stop, then start (a stopped node just starts)          running or stopped
    pause    SIGSTOP (docker pause): frozen, as in a long GC pause  running
    resume   SIGCONT (docker unpause)                               paused
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.backend import Cluster, Run

RUNNING, PAUSED, STOPPED = Run.RUNNING, Run.PAUSED, Run.STOPPED


class NodeControlError(RuntimeError):
    """The verb does not apply to the node as it is now, or the node is unknown."""


def _kill(c: Cluster, node: str) -> str:
    return f"killed {node} (SIGKILL; exit {c.kill(node)})"


def _stop(c: Cluster, node: str) -> str:
    return f"stopped {node} (SIGTERM; exit {c.stop(node)})"


def _start(c: Cluster, node: str) -> str:
    c.start_node(node)
    return f"started {node}: serving"


def _restart(c: Cluster, node: str) -> str:
    if c.process_state(node).run is RUNNING:
        c.stop(node)
    c.start_node(node)
    return f"restarted {node}: serving"


def _pause(c: Cluster, node: str) -> str:
    c.pause(node)
    return f"paused {node} (SIGSTOP)"


def _resume(c: Cluster, node: str) -> str:
    c.resume(node)
    return f"resumed {node} (SIGCONT)"


VERBS: dict[str, tuple[frozenset[Run], Callable[[Cluster, str], str]]] = {
    "kill": (frozenset({RUNNING, PAUSED}), _kill),
    "stop": (frozenset({RUNNING}), _stop),
    "start": (frozenset({STOPPED}), _start),
    "restart": (frozenset({RUNNING, STOPPED}), _restart),
    "pause": (frozenset({RUNNING}), _pause),
    "resume": (frozenset({PAUSED}), _resume),
}

_WHY_NOT = {
    ("stop", PAUSED): "resume it first, or kill it",
    ("restart", PAUSED): "resume it first, or kill it",
    ("pause", PAUSED): "it is paused already",
    ("resume", RUNNING): "it is not paused",
    ("start", RUNNING): "it is running already",
    ("start", PAUSED): "it is running (paused); resume it",
}


def control_node(cluster: Cluster, verb: str, node_id: str) -> str:
    """Apply `verb` to `node_id`; returns what was done, in a line."""
    if verb not in VERBS:
        raise NodeControlError(f"unknown verb {verb!r}; verbs: {', '.join(VERBS)}")
    try:
        now = cluster.process_state(node_id)
    except ValueError as e:  # TopologyError: an unknown node, named with the known ones
        raise NodeControlError(str(e)) from e
    applies_to, action = VERBS[verb]
    if now.run not in applies_to:
        why = _WHY_NOT.get(
            (verb, now.run), f"{verb} applies to a node that is " + " or ".join(sorted(applies_to))
        )
        raise NodeControlError(f"cannot {verb} {node_id}: it is {now}; {why}")
    return action(cluster, node_id)
