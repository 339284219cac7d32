"""How much history the KV store keeps: etcd's auto-compaction settings, and revision mode
in the state machine (periodic mode runs on a real leader: test_etcd_compaction.py)."""

from __future__ import annotations

import pytest

from services.kv import commands
from services.kv.commands import Put
from services.kv.compaction import MODE_ENV, RETENTION_ENV, Compaction
from services.kv.state import KvState
from services.runtime.errors import InvalidArgument


def test_settings_read_as_etcds_flags_say_them(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Compaction.from_env() == Compaction(revisions=10_000)
    monkeypatch.setenv(RETENTION_ENV, "500")
    assert Compaction.from_env() == Compaction(revisions=500)
    monkeypatch.setenv(MODE_ENV, "periodic")
    monkeypatch.setenv(RETENTION_ENV, "90s")
    assert Compaction.from_env() == Compaction(revisions=None, period_s=90.0)
    monkeypatch.setenv(RETENTION_ENV, "1h")
    assert Compaction.from_env().period_s == 3600.0
    for mode, retention in (("periodic", "soon"), ("revision", "-3"), ("sometimes", "1")):
        monkeypatch.setenv(MODE_ENV, mode)
        monkeypatch.setenv(RETENTION_ENV, retention)
        with pytest.raises(InvalidArgument, match="FAULTLAB_ETCD_AUTO_COMPACTION"):
            Compaction.from_env()


def test_revision_mode_keeps_the_last_n_versions_on_every_replica_alike() -> None:
    replicas = [KvState(history_revisions=5), KvState(history_revisions=5)]
    for i in range(23):
        for state in replicas:
            state.apply(i + 1, commands.encode(Put("k", b"%d" % i)))
    compacted = {s.store.compacted for s in replicas}
    assert len(compacted) == 1  # at the same revision on both
    kept = replicas[0].revision - compacted.pop()
    assert 5 <= kept < 10  # the last 5 at least; compacted every 5 revisions
    assert replicas[0].changes_after(replicas[0].revision - kept - 2) is None


def test_periodic_mode_keeps_everything_until_told() -> None:
    state = KvState(history_revisions=None)
    for i in range(50):
        state.apply(i + 1, commands.encode(Put("k", b"%d" % i)))
    assert state.store.compacted == 0 and len(state.changes_after(1) or []) == 50
