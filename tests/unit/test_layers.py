"""The import-linter contracts in pyproject.toml hold on the code, and they do fail when a
service reaches up into the tooling layers (shown on a copy of the tree, not assumed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'proto'}"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contracts_hold_on_the_code() -> None:
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def _copy_of_the_tree(tmp_path: Path) -> Path:
    for package in ("services", "cluster", "chaos", "proto"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_services_to_cluster_import_breaks_them(tmp_path: Path) -> None:
    tree = _copy_of_the_tree(tmp_path)
    (tree / "services" / "runtime" / "reaches_up.py").write_text(
        "from cluster.launcher import LocalCluster  # a node must never carry the launcher\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "services.runtime.reaches_up -> cluster.launcher" in result.stdout
    assert "BROKEN" in result.stdout


def test_a_service_reaching_into_raft_breaks_them(tmp_path: Path) -> None:
    tree = _copy_of_the_tree(tmp_path)
    (tree / "services" / "log" / "reaches_in.py").write_text(
        "from services.raft.node import RaftNode  # a service sees Raft through the chassis\n"
    )
    result = _lint(tree)
    assert result.returncode != 0
    assert "services.log.reaches_in -> services.raft.node" in result.stdout
    assert "services-off-raft" in result.stdout or "never import services.raft" in result.stdout
