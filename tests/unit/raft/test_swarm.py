"""Thousands of seeds, each with its own fault mix; safety checked at every step, liveness
once faults stop. A failing seed names itself: `python -m services.raft.sim SEED`."""

from __future__ import annotations

import pytest

from services.raft.sim.swarm import run_seed

SEEDS = 2000
CHUNK = 100


@pytest.mark.parametrize("first", range(0, SEEDS, CHUNK), ids=lambda s: f"seeds{s}-{s + CHUNK - 1}")
def test_swarm(first: int) -> None:
    elections = 0
    for seed in range(first, first + CHUNK):
        try:
            result = run_seed(seed)
        except AssertionError as e:
            pytest.fail(f"seed {seed}: {e}\nreplay: python -m services.raft.sim {seed}")
        elections += result.max_term
    assert elections > CHUNK, "the swarm should elect (and re-elect) leaders"
