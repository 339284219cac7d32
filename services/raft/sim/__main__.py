"""Replay one seed, or soak many: `python -m services.raft.sim SEED` / `--soak N`."""

from __future__ import annotations

import argparse
import sys
import time

from services.raft.sim.swarm import run_seed


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m services.raft.sim")
    p.add_argument("seed", nargs="?", type=int, help="replay this seed and print its result")
    p.add_argument("--soak", type=int, metavar="N", help="run N seeds")
    p.add_argument("--start", type=int, default=0, help="first seed of a soak")
    args = p.parse_args()
    if args.seed is not None:
        print(run_seed(args.seed))
        return 0
    n = args.soak or 1000
    started = time.monotonic()
    for seed in range(args.start, args.start + n):
        try:
            run_seed(seed)
        except AssertionError as e:
            print(f"seed {seed} FAILED: {e}\nreplay: python -m services.raft.sim {seed}")
            return 1
        if (seed - args.start + 1) % 500 == 0:
            print(f"{seed - args.start + 1} seeds ok ({time.monotonic() - started:.0f}s)")
    print(f"{n} seeds ok in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
