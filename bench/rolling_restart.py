"""The write gap of a rolling restart of a 3-node KV cluster, with and without the
chassis's hand-over on SIGTERM, under the same steady leader-following write load.

    python bench/rolling_restart.py [--rounds 3]

Each round restarts every node in turn (SIGTERM, start, wait for a leader). Reported per
mode: the longest time no write was acknowledged, and how many writes ended with an
unknown outcome (Jepsen's info) or a definite failure. Without hand-over every stop of a
leader costs an election timeout (0.5-1 s at the defaults); with it, about a round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from chaos.restart import stop_under_load
from cluster.launcher import LocalCluster
from services.runtime.topology import Group, Topology


def one_round(hand_over: bool) -> dict[str, float]:
    topology = Topology.build("127.0.0.1", 0, (Group("kv", 3),))
    env = {"FAULTLAB_HAND_OVER": "1" if hand_over else "0"}
    with LocalCluster(topology, Path(tempfile.mkdtemp()), node_env=env) as cluster:
        leader = cluster.wait_for_leader()
        # The leader last, so each rolling restart moves leadership at least once.
        order = [n.id for n in cluster.topology.nodes if n.id != leader] + [leader]
        run = asyncio.run(stop_under_load(cluster, order, restart=True))
    return {
        "write_gap_s": run.write_gap_s,
        "outcome_unknown": run.outcome_unknown,
        "failed": run.failed,
        "acknowledged": run.acknowledged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"without hand-over": [], "with hand-over": []}
    for _ in range(args.rounds):
        for mode, hand_over in (("without hand-over", False), ("with hand-over", True)):
            results[mode].append(one_round(hand_over))
    print(f"{'mode':<20} {'max write gap':>14} {'unknown':>8} {'failed':>7} {'acked':>7}")
    for mode, rounds in results.items():
        for r in rounds:
            print(
                f"{mode:<20} {r['write_gap_s'] * 1000:>11.0f} ms {r['outcome_unknown']:>8}"
                f" {r['failed']:>7} {r['acknowledged']:>7}"
            )
    out = Path(__file__).parent / "results" / "rolling_restart.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
