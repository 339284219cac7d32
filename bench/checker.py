"""The linearizability checker's speed on a generated history.

    python bench/checker.py [--ops 10000] [--processes 10] [--keys 5]

The history comes from simulating a register store with real concurrency: each process
invokes, the operation takes effect at a random instant inside its interval, then it
returns; some writes end as `info`. So the history is linearizable and the checker has to
find the witness, which is its real work (an invalid history usually fails fast).
"""

from __future__ import annotations

import argparse
import heapq
import random
import time

from chaos.checkers.linearizability import check
from chaos.history import Operation


def generate(ops: int, processes: int, keys: int, seed: int = 1) -> list[Operation]:
    rng = random.Random(seed)
    state: dict[str, tuple[str | None, int]] = {}
    out: list[Operation] = []
    # Each process has one operation in flight; it takes effect at a random instant inside
    # its interval, and effects are applied in time order: linearizable by construction.
    pending: list[tuple[int, int, int, int]] = []  # (effect time, start, end, process)
    made = 0
    for p in range(processes):
        start = rng.randrange(0, 100)
        length = rng.randrange(5, 200)
        heapq.heappush(pending, (start + rng.randrange(length), start, start + length, p))
    while made < ops:
        _, start, end, p = heapq.heappop(pending)
        key = f"k{rng.randrange(keys)}"
        value, version = state.get(key, (None, 0))
        roll = rng.random()
        if roll < 0.5:
            out.append(Operation(f"p{p}", "read", key, None, [value, version], "ok", start, end))
        elif roll < 0.9:
            new = f"v{made}"
            state[key] = (new, version + 1)
            lost = rng.random() < 0.02
            out.append(
                Operation(
                    f"p{p}",
                    "write",
                    key,
                    new,
                    None,
                    "info" if lost else "ok",
                    start,
                    None if lost else end,
                )
            )
        else:
            expected = version if rng.random() < 0.5 else version + 1
            swapped = expected == version
            if swapped:
                state[key] = (f"v{made}", version + 1)
            out.append(
                Operation(f"p{p}", "cas", key, [expected, f"v{made}"], swapped, "ok", start, end)
            )
        made += 1
        nxt = end + rng.randrange(1, 20)
        length = rng.randrange(5, 200)
        heapq.heappush(pending, (nxt + rng.randrange(length), nxt, nxt + length, p))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ops", type=int, default=10_000)
    p.add_argument("--processes", type=int, default=10)
    p.add_argument("--keys", type=int, default=5)
    args = p.parse_args()
    history = generate(args.ops, args.processes, args.keys)
    started = time.perf_counter()
    result = check(history)
    elapsed = time.perf_counter() - started
    assert result.valid, "the generated history is linearizable by construction"
    print(
        f"{args.ops} operations, {args.processes} processes, {args.keys} keys: "
        f"valid in {elapsed * 1000:.0f} ms ({args.ops / elapsed:,.0f} ops/s)"
    )


if __name__ == "__main__":
    main()
