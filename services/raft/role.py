"""A node's role in one Raft group, one enum from the core to the CLI.

The numbers are the wire's (faultlab.admin.v1.RaftRole, checked by a unit test), so the
admin edge passes a role through unchanged and a client turns it back with `Role(n)`.
"""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    STARTING = 1  # the node has not loaded the group's state yet; the core never takes it
    FOLLOWER = 2
    PRE_CANDIDATE = 3  # asking for pre-votes before it may start an election (§9.6)
    CANDIDATE = 4
    LEADER = 5

    @property
    def label(self) -> str:
        """How people read it: "leader", "pre-candidate"."""
        return self.name.lower().replace("_", "-")
