"""The chassis every replicated service stands on: `replicated_main` wires a state
machine, its servicers and its Raft groups onto the runtime and a multi-group Raft host;
`ReplicatedGroup` is a group as handlers see it, failing only with the error tree.
A service names what it needs of Raft from here (StateMachine, UnknownGroup), never
from services.raft."""

from services.raft.host import UnknownGroup
from services.raft.statemachine import StateMachine
from services.replicated.group import ReplicatedGroup
from services.replicated.main import Replicas, ReplicatedService, Servicer, replicated_main

__all__ = [
    "Replicas",
    "ReplicatedGroup",
    "ReplicatedService",
    "Servicer",
    "StateMachine",
    "UnknownGroup",
    "replicated_main",
]
