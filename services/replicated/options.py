"""A replicated node's options, from the environment (the launcher and docker-compose set
them): FAULTLAB_FSYNC, FAULTLAB_TICK_MS, FAULTLAB_ELECTION_TICKS, FAULTLAB_PRE_VOTE,
FAULTLAB_CHECK_QUORUM, FAULTLAB_SNAPSHOT_EVERY, FAULTLAB_QUIESCE, FAULTLAB_HAND_OVER."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.raft.node import NodeOptions
from services.raft.storage import FsyncPolicy
from services.runtime.config import ConfigError

_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class ReplicaOptions:
    raft: NodeOptions
    fsync: FsyncPolicy
    # On SIGTERM, hand leadership to a caught-up follower before stopping (0: just stop,
    # as a crash would, and let the others wait out an election timeout).
    hand_over: bool = True


def from_env(
    env: Mapping[str, str] = os.environ, quiesce_by_default: bool = False
) -> ReplicaOptions:
    defaults = NodeOptions()
    fsync_text = env.get("FAULTLAB_FSYNC", "batch")
    try:
        fsync = FsyncPolicy(fsync_text)
    except ValueError:
        raise ConfigError(f"FAULTLAB_FSYNC={fsync_text!r}: use always, batch or never") from None
    options = NodeOptions(
        tick_ms=_int(env, "FAULTLAB_TICK_MS", defaults.tick_ms, 1),
        election_ticks=_int(env, "FAULTLAB_ELECTION_TICKS", defaults.election_ticks, 2),
        pre_vote=_bool(env, "FAULTLAB_PRE_VOTE", defaults.pre_vote),
        check_quorum=_bool(env, "FAULTLAB_CHECK_QUORUM", defaults.check_quorum),
        snapshot_every=_int(env, "FAULTLAB_SNAPSHOT_EVERY", defaults.snapshot_every, 1),
        quiesce=_bool(env, "FAULTLAB_QUIESCE", quiesce_by_default),
        max_clock_drift=_fraction(env, "FAULTLAB_MAX_CLOCK_DRIFT", defaults.max_clock_drift),
    )
    return ReplicaOptions(options, fsync, _bool(env, "FAULTLAB_HAND_OVER", True))


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = env.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below {minimum}")
    return value


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    """A fraction in [0, 1)."""
    text = env.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name}={value} is not a fraction in [0, 1)")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name)
    if text is None:
        return default
    if text.lower() not in _BOOLS:
        raise ConfigError(f"{name}={text!r}: use 1 or 0")
    return _BOOLS[text.lower()]
