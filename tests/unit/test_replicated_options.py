"""A replicated node's options from its environment: defaults, and every refusal."""

from __future__ import annotations

import pytest

from services.raft.storage import FsyncPolicy
from services.replicated.options import from_env
from services.runtime.config import ConfigError


def test_defaults() -> None:
    opts = from_env({})
    options, fsync = opts.raft, opts.fsync
    assert fsync is FsyncPolicy.BATCH and opts.hand_over
    assert (options.tick_ms, options.election_ticks, options.pre_vote) == (50, 10, True)


def test_every_option_is_read() -> None:
    opts = from_env(
        {
            "FAULTLAB_FSYNC": "never",
            "FAULTLAB_TICK_MS": "20",
            "FAULTLAB_ELECTION_TICKS": "5",
            "FAULTLAB_PRE_VOTE": "0",
            "FAULTLAB_CHECK_QUORUM": "false",
            "FAULTLAB_SNAPSHOT_EVERY": "100",
            "FAULTLAB_HAND_OVER": "0",
            "FAULTLAB_MAX_CLOCK_DRIFT": "0.25",
        }
    )
    options, fsync = opts.raft, opts.fsync
    assert not opts.hand_over
    assert fsync is FsyncPolicy.NEVER
    assert (options.tick_ms, options.election_ticks, options.snapshot_every) == (20, 5, 100)
    assert not options.pre_vote and not options.check_quorum
    assert options.max_clock_drift == 0.25


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAULTLAB_FSYNC": "sometimes"}, "use always, batch or never"),
        ({"FAULTLAB_TICK_MS": "fast"}, "not a whole number"),
        ({"FAULTLAB_TICK_MS": "0"}, "below 1"),
        ({"FAULTLAB_ELECTION_TICKS": "1"}, "below 2"),
        ({"FAULTLAB_PRE_VOTE": "maybe"}, "use 1 or 0"),
        ({"FAULTLAB_SNAPSHOT_EVERY": "-5"}, "below 1"),
        ({"FAULTLAB_MAX_CLOCK_DRIFT": "1"}, r"not a fraction in \[0, 1\)"),
        ({"FAULTLAB_MAX_CLOCK_DRIFT": "a lot"}, "not a number"),
    ],
)
def test_bad_options_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_env(env)
