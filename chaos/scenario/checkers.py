"""Checkers a scenario can judge with: the catalogue's, each saying whether the history
shows its anomaly.

    checkers.linearizable()          kv_register: Knossos-style, per key
    checkers.no_acknowledged_loss()  log_produce_consume: Jepsen's Kafka checker's essentials
    checkers.lock_safety()           lock_set: one holder at a time, tokens, no lost update
    checkers.latency_below(op, p99_ms)       any workload: completed operations' p99
    checkers.answered_at_least(op, share)    any workload: the share of operations ok
"""

from __future__ import annotations

from chaos import etcd_counter as etcd_counter_workload
from chaos import lock_set as lock_set_workload
from chaos.checkers import counter as counter_checker
from chaos.checkers import linearizability
from chaos.checkers import lock as lock_checker
from chaos.checkers import log as log_checker
from chaos.checkers.latency import latency_ms
from chaos.experiments import render
from chaos.experiments.base import RunData
from chaos.scenario.model import Checker, Verdict
from chaos.scenario.workloads import (
    ETCD_COUNTER,
    GATEWAY_CALLS,
    KAFKA_PRODUCE,
    KV_REGISTER,
    LOCK_SET,
    LOG_PRODUCE_CONSUME,
)


def linearizable() -> Checker:
    """Every key's reads, writes and compare-and-sets fit one sequential order that
    respects real time."""

    def check(data: RunData) -> Verdict:
        result = linearizability.check(data.operations)
        reads = [op for op in data.operations if op.f == "read"]
        ok_reads = sum(1 for op in reads if op.outcome == "ok")
        figures = {
            "operations": float(len(data.operations)),
            "reads": float(len(reads)),
            "ok_reads": float(ok_reads),
            "keys_invalid": 0.0,
        }
        if result.valid:
            answered = f"{ok_reads}/{len(reads)} reads answered"
            summary = f"{len(data.operations)} operations, {answered}"  # under "linearizable: "
            return Verdict(False, summary, "", figures)
        first = result.failures[0]
        figures["keys_invalid"] = float(len(result.failures))
        return Verdict(
            True,
            f"NOT linearizable on {len(result.failures)} key(s); first: {first.key!r}",
            render.failing_window_md(first),
            figures,
            [op for failure in result.failures for op in failure.window],
        )

    return Checker("linearizable", check, (KV_REGISTER,))


def no_acknowledged_loss() -> Checker:
    """No acknowledged record missing from the final read of its partition; no record at
    two offsets or two records at one; consumers neither skip nor go back."""

    def check(data: RunData) -> Verdict:
        result = log_checker.check(data.operations)
        figures = result.figures()
        unseen = render.log_unseen_table(result, data.duration_s)
        if result.valid:
            return Verdict(
                False,
                f"none: {result.acknowledged} acknowledged, "
                f"{result.indefinite} indefinite, {result.read} read",
                unseen,
                figures,
            )
        details = render.log_lost_examples(result) + "\n\n" + unseen
        lost = set(result.lost)
        flagged = [
            op
            for op in data.operations
            if op.f == "send" and op.outcome == "ok" and op.input in lost
        ]
        return Verdict(True, render.log_anomalies(result), details, figures, flagged)

    return Checker("no-acknowledged-loss", check, (LOG_PRODUCE_CONSUME, KAFKA_PRODUCE))


def lock_safety() -> Checker:
    """The lock service held one holder at a time (the grants, releases and expiries fit
    a mutex), tokens only grew, no write under an older token landed after a newer one,
    and every acknowledged add is in the set read after the run."""

    def check(data: RunData) -> Verdict:
        final = {
            op.key: op.output
            for op in data.operations
            if op.process == lock_set_workload.FINAL and op.outcome == "ok"
        }
        result = lock_checker.check(data.operations, final)
        figures = {k: float(v) for k, v in lock_checker.summary(result).items()}
        if result.safe:
            return Verdict(
                False, f"safe: {result.acknowledged} acknowledged adds all present", "", figures
            )
        found = [
            f"{k.replace('_', ' ')}: {v:g}"
            for k, v in figures.items()
            if k != "acknowledged_adds" and v and k != "mutex_linearizable"
        ]
        if not result.mutex.valid:
            found.insert(0, "the grants do not fit a mutex")
        lost = set(result.lost)
        flagged = [
            op
            for op in data.operations
            if op.f == "add" and op.outcome == "ok" and op.input and op.input[0] in lost
        ]
        return Verdict(True, "; ".join(found), "", figures, flagged)

    return Checker("lock-safety", check, (LOCK_SET,))


def counter_safety() -> Checker:
    """Every acknowledged increment of the counter is counted in the value read after the
    run, and no two acknowledged writes wrote the same value (one erased the other)."""

    def check(data: RunData) -> Verdict:
        final = next(
            (
                int(op.output)
                for op in data.operations
                if op.process == etcd_counter_workload.FINAL and op.outcome == "ok"
            ),
            0,
        )
        result = counter_checker.check(data.operations, final)
        figures = {
            "acknowledged_increments": float(result.acknowledged),
            "final_counter": float(final),
            "lost_increments": float(result.lost),
            "values_written_twice": float(len(result.duplicates)),
        }
        if result.safe:
            said = f"safe: {result.acknowledged} acknowledged increments, counter at {final}"
            return Verdict(False, said, "", figures)
        said = f"{result.lost} acknowledged increment(s) lost, counter at {final}"
        if result.duplicates:
            said += f"; value(s) written twice: {result.duplicates[:5]}"
        return Verdict(True, said, "", figures)

    return Checker("counter-safety", check, (ETCD_COUNTER,))


ANY_WORKLOAD = (
    KV_REGISTER,
    LOG_PRODUCE_CONSUME,
    LOCK_SET,
    GATEWAY_CALLS,
    KAFKA_PRODUCE,
    ETCD_COUNTER,
)


def latency_below(op: str, p99_ms: float) -> Checker:
    """The operations `op` (kv-register: read, write, cas; log: send, poll; lock-set:
    acquire, add; gateway-calls: call; kafka-produce: send; etcd-counter: acquire, write)
    that completed ok had a p99
    latency at most `p99_ms` over the run; an anomaly above it."""

    def check(data: RunData) -> Verdict:
        figures = latency_ms(data.operations, op, 0.0, data.duration_s + 60.0)
        shown = {f"{op}_p50_ms": figures["p50"], f"{op}_p99_ms": figures["p99"]}
        count = int(figures["count"])
        summary = f"{op} p99 {figures['p99']:.1f} ms over {count} ok (bound {p99_ms:g} ms)"
        return Verdict(count == 0 or figures["p99"] > p99_ms, summary, "", shown)

    return Checker(f"latency-below-{op}", check, ANY_WORKLOAD)


def answered_at_least(op: str, share: float) -> Checker:
    """At least `share` (0-1) of the operations `op` were answered ok: availability as a
    caller sees it; an anomaly below it."""

    def check(data: RunData) -> Verdict:
        ops = [o for o in data.operations if o.f == op]
        ok = sum(1 for o in ops if o.outcome == "ok")
        got = ok / len(ops) if ops else 0.0
        summary = f"{ok}/{len(ops)} {op} answered ok ({got:.1%}; bound {share:.0%})"
        return Verdict(got < share, summary, "", {f"{op}_ok_share": round(got, 4)})

    return Checker(f"answered-at-least-{op}", check, ANY_WORKLOAD)
