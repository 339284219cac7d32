"""A KV node's Raft options from its environment: defaults, and every refusal."""

from __future__ import annotations

import pytest

from services.kv.options import from_env
from services.raft.storage import FsyncPolicy
from services.runtime.config import ConfigError


def test_defaults() -> None:
    options, fsync = from_env({})
    assert fsync is FsyncPolicy.BATCH
    assert (options.tick_ms, options.election_ticks, options.pre_vote) == (50, 10, True)


def test_every_option_is_read() -> None:
    options, fsync = from_env({
        "FAULTLAB_FSYNC": "never", "FAULTLAB_TICK_MS": "20", "FAULTLAB_ELECTION_TICKS": "5",
        "FAULTLAB_PRE_VOTE": "0", "FAULTLAB_CHECK_QUORUM": "false",
        "FAULTLAB_SNAPSHOT_EVERY": "100",
    })  # fmt: skip
    assert fsync is FsyncPolicy.NEVER
    assert (options.tick_ms, options.election_ticks, options.snapshot_every) == (20, 5, 100)
    assert not options.pre_vote and not options.check_quorum


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAULTLAB_FSYNC": "sometimes"}, "use always, batch or never"),
        ({"FAULTLAB_TICK_MS": "fast"}, "not a whole number"),
        ({"FAULTLAB_TICK_MS": "0"}, "below 1"),
        ({"FAULTLAB_ELECTION_TICKS": "1"}, "below 2"),
        ({"FAULTLAB_PRE_VOTE": "maybe"}, "use 1 or 0"),
        ({"FAULTLAB_SNAPSHOT_EVERY": "-5"}, "below 1"),
    ],
)
def test_bad_options_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_env(env)
