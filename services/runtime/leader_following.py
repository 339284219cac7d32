"""One policy for following a Raft group's leader, used by the client SDK
(cluster/client/call.py) and the gateway (services/gateway/forwarding.py) alike: what to
do after a failed attempt, decided from its reason by one table.

    reason                                  decision
    NOT_LEADER                              FOLLOW: to the leader it names, else the next node
    NOT_APPLIED, NO_QUORUM                  RETRY: certainly not applied; the next node
    OUTCOME_UNKNOWN; no reason with         RETRY_IF_IDEMPOTENT: it may have applied; retried
      UNAVAILABLE or DEADLINE_EXCEEDED        only when a repeat cannot apply twice (a write
                                              with a session or a producer id, a read)
    anything else (INVALID, FENCED, ...)    ANSWER: the state machine's or the server's own
                                              answer; returned or relayed as it is

Before this table the two disagreed: the SDK retried OUTCOME_UNKNOWN and a bare
DEADLINE_EXCEEDED, the gateway neither, but retried a bare UNAVAILABLE whatever the
request, though a connection reset after the request was sent leaves its outcome as
unknown as a lost answer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator

import grpc

from services.runtime.errors import Reason
from services.runtime.remote_errors import reason_of


class Decision(enum.Enum):
    FOLLOW = "follow"
    RETRY = "retry"
    RETRY_IF_IDEMPOTENT = "retry_if_idempotent"
    ANSWER = "answer"

    @property
    def reached_no_state_machine(self) -> bool:
        """A refusal before any state machine saw the request: it says nothing of an
        earlier attempt whose outcome is unknown (that attempt's doubt stands)."""
        return self in (Decision.FOLLOW, Decision.RETRY)


BY_REASON: dict[int, Decision] = {
    Reason.Value("NOT_LEADER"): Decision.FOLLOW,
    Reason.Value("NOT_APPLIED"): Decision.RETRY,
    Reason.Value("NO_QUORUM"): Decision.RETRY,
    Reason.Value("OUTCOME_UNKNOWN"): Decision.RETRY_IF_IDEMPOTENT,
}
# A failure without a reason: no answer came back from a server of ours.
NO_ANSWER_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_UNSPECIFIED = Reason.Value("REASON_UNSPECIFIED")


def decide(code: grpc.StatusCode, reason: int) -> Decision:
    if reason == _UNSPECIFIED:
        return Decision.RETRY_IF_IDEMPOTENT if code in NO_ANSWER_CODES else Decision.ANSWER
    return BY_REASON.get(reason, Decision.ANSWER)


def decision_for(e: grpc.aio.AioRpcError) -> Decision:
    return decide(e.code(), reason_of(e))


def may_retry(decision: Decision, idempotent: bool) -> bool:
    """Whether another attempt (on another node) may follow this decision."""
    if decision is Decision.RETRY_IF_IDEMPOTENT:
        return idempotent
    return decision is not Decision.ANSWER


class LeaderCache:
    """Where each Raft group's leader was last seen: group (or route key) -> node id.
    Callers of one process may share one."""

    def __init__(self) -> None:
        self._leaders: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._leaders.get(key)

    def set(self, key: str, node: str | None) -> None:
        if node is None:
            self._leaders.pop(key, None)
        else:
            self._leaders[key] = node

    def forget_node(self, node: str) -> None:
        """`node` gave no answer: it leads nothing as far as anyone here knows."""
        self._leaders = {k: v for k, v in self._leaders.items() if v != node}


class NodeOrder:
    """A group's nodes in the order to try them: sorted at first; a node that failed to
    answer as leader goes to the end, so every other node is tried before it again."""

    def __init__(self, nodes: Iterable[str]) -> None:
        self._order = sorted(nodes)
        if not self._order:
            raise ValueError("a group needs at least one node")

    def __contains__(self, node: object) -> bool:
        return node in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def first(self) -> str:
        return self._order[0]

    def demote(self, node: str) -> None:
        if node in self._order:
            self._order.remove(node)
            self._order.append(node)


class LeaderSearch:
    """One call's walk to the leader of `key`: the cached leader, else the first node in
    order; then wherever NOT_LEADER answers point (each node once per round); a node
    that refused or gave no answer is forgotten as leader and goes to the end."""

    def __init__(self, order: NodeOrder, leaders: LeaderCache, key: str) -> None:
        self.order, self.leaders, self.key = order, leaders, key
        self._tried: set[str] = set()
        self.node = self._first_choice()

    def _first_choice(self) -> str:
        cached = self.leaders.get(self.key)
        return cached if cached is not None and cached in self.order else self.order.first()

    def found(self) -> None:
        """`node` answered as leader."""
        self.leaders.set(self.key, self.node)

    def followed(self, hint: str) -> bool:
        """After NOT_LEADER: True with `node` set to the leader it named; False when it
        named none this call may go to (unknown, or already tried this round)."""
        self._tried.add(self.node)
        if hint in self.order and hint not in self._tried:
            self.node = hint
            return True
        return False

    def next_untried(self) -> bool:
        """After NOT_LEADER naming nobody: True with `node` set to a node not yet tried
        this round; False once every node has refused."""
        self.leaders.set(self.key, None)
        untried = [n for n in self.order if n not in self._tried]
        if not untried:
            return False
        self.node = untried[0]
        return True

    def remember_hint(self, hint: str) -> None:
        """A call that cannot be redirected (a client stream) ends here: the caller's
        retry goes where this NOT_LEADER answer pointed, if anywhere."""
        self.leaders.set(self.key, hint if hint in self.order else None)

    def failed_here(self) -> None:
        """`node` refused or gave no answer: the next attempt, a new round, goes to the
        first choice with `node` last in order."""
        if self.leaders.get(self.key) == self.node:
            self.leaders.set(self.key, None)
        self.order.demote(self.node)
        self._tried.clear()
        self.node = self._first_choice()
