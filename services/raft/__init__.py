"""Raft consensus: a pure core (no I/O, no clock, no randomness of its own), its storage,
transport and asyncio driver. See core.py for the core and ready.py for the contract
between the core and whatever drives it."""

from services.raft.config import RaftConfig
from services.raft.core import RaftCore, Restored, Role
from services.raft.errors import Compacted, NotLeader, ProposalDropped, RaftError
from services.raft.messages import (
    ConfChange,
    ConfChangeKind,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    NodeId,
    ReadState,
    Snapshot,
)
from services.raft.ready import Ready, SoftState
from services.raft.statemachine import StateMachine

__all__ = [
    "Compacted",
    "ConfChange",
    "ConfChangeKind",
    "Entry",
    "EntryKind",
    "HardState",
    "Message",
    "MessageType",
    "NodeId",
    "NotLeader",
    "ProposalDropped",
    "RaftConfig",
    "RaftCore",
    "RaftError",
    "ReadState",
    "Ready",
    "Restored",
    "Role",
    "Snapshot",
    "SoftState",
    "StateMachine",
]
