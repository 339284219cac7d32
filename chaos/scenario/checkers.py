"""Checkers a scenario can judge with: the catalogue's, each saying whether the history
shows its anomaly.

    checkers.linearizable()          kv_register: Knossos-style, per key
    checkers.no_acknowledged_loss()  log_produce_consume: Jepsen's Kafka checker's essentials
"""

from __future__ import annotations

from chaos.checkers import linearizability
from chaos.checkers import log as log_checker
from chaos.experiments.base import RunData
from chaos.experiments.render import failing_window_md
from chaos.scenario.model import Checker, Verdict
from chaos.scenario.workloads import KV_REGISTER, LOG_PRODUCE_CONSUME


def linearizable() -> Checker:
    """Every key's reads, writes and compare-and-sets fit one sequential order that
    respects real time."""

    def check(data: RunData) -> Verdict:
        result = linearizability.check(data.operations)
        figures = {"operations": float(len(data.operations)), "keys_invalid": 0.0}
        if result.valid:
            return Verdict(False, f"linearizable ({len(data.operations)} operations)", "", figures)
        first = result.failures[0]
        figures["keys_invalid"] = float(len(result.failures))
        return Verdict(
            True,
            f"NOT linearizable on {len(result.failures)} key(s); first: {first.key!r}",
            failing_window_md(first),
            figures,
        )

    return Checker("linearizable", check, (KV_REGISTER,))


def no_acknowledged_loss() -> Checker:
    """No acknowledged record missing from the final read of its partition; no record at
    two offsets or two records at one; consumers neither skip nor go back."""

    def check(data: RunData) -> Verdict:
        result = log_checker.check(data.operations)
        figures = result.figures()
        if result.valid:
            return Verdict(
                False,
                f"no acknowledged record lost ({result.acknowledged} acknowledged, "
                f"{result.indefinite} indefinite, {result.read} read)",
                "",
                figures,
            )
        lost = ", ".join(f"`{v}`" for v in result.lost[:10])
        return Verdict(
            True,
            f"{len(result.lost)} of {result.acknowledged} acknowledged records lost",
            f"Acknowledged, never read: {lost}" if lost else "",
            figures,
        )

    return Checker("no-acknowledged-loss", check, (LOG_PRODUCE_CONSUME,))
