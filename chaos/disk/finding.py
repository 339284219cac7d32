"""Finding the lazy disks of a cluster run from its folder alone: the nemesis, `faultlab
status` and `faultlab disk` reach a disk without the object that mounted it."""

from __future__ import annotations

from pathlib import Path

from chaos.disk.control import CONTROL_FILE, DiskControl


def disk_state_dir(run_dir: Path, node_id: str) -> Path:
    return Path(run_dir) / "disk" / node_id


def disk_controls(run_dir: Path) -> dict[str, DiskControl]:
    """The lazy disks mounted for the cluster run in `run_dir`, by node."""
    root = Path(run_dir) / "disk"
    if not root.is_dir():
        return {}
    return {d.name: DiskControl(d) for d in sorted(root.iterdir()) if (d / CONTROL_FILE).exists()}


def disk_control(run_dir: Path, node_id: str) -> DiskControl:
    controls = disk_controls(run_dir)
    if node_id not in controls:
        raise KeyError(f"{node_id} has no lazy disk (disks: {sorted(controls) or 'none'})")
    return controls[node_id]
