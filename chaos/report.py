"""The report of one run: report.md, timeline.png, beside history.jsonl and summary.json."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from chaos.experiments.base import Experiment, ModeResult

BUCKET_S = 0.5


def write_report(exp: Experiment, result: ModeResult) -> Path:
    plot = result.folder / "timeline.png"
    draw_timeline(result, plot, f"{exp.name} ({result.mode.name}): {result.mode.summary}")
    path = result.folder / "report.md"
    path.write_text(_markdown(exp, result))
    return path


def _nodes(exp: Experiment) -> str:
    return ", ".join(f"{g.size} {g.name}" for g in exp.topology.groups)


def _markdown(exp: Experiment, r: ModeResult) -> str:
    held = "yes" if r.behaved else "**NO**"
    env = ", ".join(f"`{k}={v}`" for k, v in r.mode.node_env.items()) or "defaults"
    a = r.availability
    lines = [
        f"# {exp.title} — {r.mode.name} mode",
        "",
        f"**Hypothesis.** {exp.hypothesis}",
        "",
        f"**Sources.** {'; '.join(exp.sources)}",
        "",
        "## Configuration",
        "",
        f"- mode: {r.mode.name}: {r.mode.summary}",
        f"- node environment: {env}",
        *([f"- client settings: {r.mode.settings}"] if r.mode.settings else []),
        f"- read consistency: {r.mode.read_consistency} (0 linearizable, 1 lease, 2 stale)",
        f"- duration: {r.duration_s:.0f}s, seed {r.seed}, nodes: {_nodes(exp)}",
        "",
        "## Fault timeline",
        "",
        *(f"- {start:.2f}s → {end:.2f}s: {name}" for name, start, end in r.faults),
        *(f"  - {e.value}" for e in r.history.events if e.process == "nemesis"),
        "",
        "## Verdict",
        "",
        f"- anomaly expected: {r.mode.expect_anomaly}; anomaly found: {r.finding.anomaly}",
        f"- behaved as the hypothesis says: {held}",
        f"- {r.finding.summary}",
        *(f"- {k}: {v}" for k, v in r.finding.figures.items()),
        "",
        r.finding.details_md,
        "",
        "## Availability",
        "",
        f"- ok {a.ok}, fail {a.fail}, info {a.info} ({a.ok_share():.0%} ok, {a.ok_per_s:.1f} ok/s)",
        *(f"- pinned to {n}: {ok} ok, {bad} not ok" for n, (ok, bad) in a.by_node.items()),
        "",
        "## Figure",
        "",
        "![throughput, latency and terms over time](timeline.png)",
        "",
        "Files: `history.jsonl` (every invoke and completion, and the faults), `terms.jsonl` "
        "(each node's role and term, sampled every 100 ms), `summary.json`.",
    ]
    return "\n".join(lines) + "\n"


def draw_timeline(r: ModeResult, path: Path, title: str) -> None:
    from chaos.history import pair

    ops = [op for op in pair(r.history.events) if op.end_ns is not None]
    fig, (tput, lat, terms) = plt.subplots(3, 1, figsize=(10, 7.5), sharex=True)
    counts: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    latencies: dict[float, list[float]] = defaultdict(list)
    for op in ops:
        assert op.end_ns is not None
        bucket = (op.end_ns / 1e9) // BUCKET_S * BUCKET_S
        counts[op.outcome][bucket] += 1
        if op.outcome == "ok":
            latencies[bucket].append((op.end_ns - op.start_ns) / 1e6)
    for outcome, color in (("ok", "tab:green"), ("fail", "tab:red"), ("info", "tab:orange")):
        series = sorted(counts[outcome].items())
        if series:
            xs, ys = zip(*series, strict=True)
            tput.plot(xs, [y / BUCKET_S for y in ys], label=outcome, color=color)
    tput.set_ylabel("ops/s")
    tput.legend(loc="upper right")
    buckets = sorted(latencies)
    lat.plot(buckets, [statistics.median(latencies[b]) for b in buckets], label="p50")
    lat.plot(buckets, [max(latencies[b]) for b in buckets], label="max", alpha=0.6)
    lat.set_ylabel("ok latency (ms)")
    lat.legend(loc="upper right")
    groups = _term_groups(r)
    for group in groups:
        for node in sorted({s.node for s in r.samples if s.group == group}):
            pts = [(s.time_s, s.term) for s in r.samples if s.node == node and s.group == group]
            label = node if len(groups) == 1 else f"{node} {group}"
            terms.step([p[0] for p in pts], [p[1] for p in pts], where="post", label=label)
    terms.set_ylabel("term")
    terms.yaxis.set_major_locator(MaxNLocator(integer=True))
    terms.set_xlabel("seconds since start")
    terms.legend(loc="upper left")
    for ax in (tput, lat, terms):
        for _, start, end in r.faults:
            ax.axvspan(start, end, color="grey", alpha=0.2)
    fig.suptitle(title + "  (grey: fault active)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _term_groups(r: ModeResult, most: int = 2) -> list[str]:
    """The Raft groups whose terms to plot: those whose term changed during the run (a
    log node hosts many groups; most of them are quiet), at most `most`."""
    first: dict[str, int] = {}
    changed: list[str] = []
    for s in r.samples:
        if first.setdefault(s.group, s.term) != s.term and s.group not in changed:
            changed.append(s.group)
    return changed[:most] or sorted(first)[:1]
