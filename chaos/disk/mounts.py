"""Mounting and unmounting one lazy disk, and finding the ones that are mounted.

    disk = LazyDisk(mount=run_dir / "data" / "kv1", state_dir=run_dir / "disk" / "kv1")
    disk.mount()             # its own process; returns once the mount answers
    disk.control.lose_unsynced()
    disk.unmount()           # after the node using it has stopped

The backing folder and the trash live in `state_dir`, beside the mount, never under it.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from chaos.disk.control import CONTROL_FILE, DiskControl, DiskControlError
from chaos.disk.fs import FS_NAME
from cluster import processes
from cluster.launcher import child_pythonpath
from cluster.waiting import WaitTimeout, wait_until

MOUNT_TIMEOUT_S = 15.0
UNMOUNT_TIMEOUT_S = 10.0
NEEDED_BY = "the no-fsync and slow-disk experiments, power-cut faults and tests/disk"


class DiskError(RuntimeError):
    """A lazy disk could not be mounted or unmounted; the message says why."""


def fuse_unavailable_reason() -> str | None:
    """Why FUSE cannot be used on this machine, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return (
            "/dev/fuse does not exist (load the fuse kernel module, or run with --device /dev/fuse)"
        )
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (Debian: apt-get install fuse3)"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is not installed (Debian: apt-get install fuse3)"
    return None


def require_fuse() -> None:
    reason = fuse_unavailable_reason()
    if reason is not None:
        raise DiskError(f"FUSE cannot be used here: {reason}. It is needed by {NEEDED_BY}.")


def mounted_disks() -> list[Path]:
    """Every lazy disk mounted on this machine (fstype fuse.faultlab-disk)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            if after.split(" ", 1)[0] == f"fuse.{FS_NAME}":
                found.append(Path(_unescape(before.split(" ")[4])))
    return found


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


class LazyDisk:
    def __init__(self, mount: Path, state_dir: Path, spawner: processes.Spawner) -> None:
        # Absolute: libfuse runs the disk process from "/", where a relative backing
        # folder would name nothing and every lookup under the mount would fail.
        self.mount_point = Path(mount).absolute()
        self.state_dir = Path(state_dir).absolute()
        self.backing = self.state_dir / "backing"
        self.trash = self.state_dir / "trash"
        self.log_path = self.state_dir / "disk.log"
        self.control = DiskControl(self.state_dir)
        self._spawner = spawner
        self._proc: subprocess.Popen[bytes] | None = None

    def is_mounted(self) -> bool:
        return self.mount_point.resolve() in mounted_disks()

    def mount(self) -> None:
        require_fuse()
        if self.is_mounted():
            raise DiskError(f"a lazy disk is already mounted at {self.mount_point}")
        for folder in (self.backing, self.trash, self.mount_point):
            folder.mkdir(parents=True, exist_ok=True)
        (self.state_dir / CONTROL_FILE).unlink(missing_ok=True)
        argv = [
            sys.executable,
            "-m",
            "chaos.disk",
            "--backing",
            str(self.backing),
            "--trash",
            str(self.trash),
            "--mount",
            str(self.mount_point),
            "--state",
            str(self.state_dir),
        ]
        self._proc = self._spawner.spawn(argv, self.log_path, {"PYTHONPATH": child_pythonpath()})
        try:
            wait_until(self._answering, MOUNT_TIMEOUT_S, f"lazy disk at {self.mount_point}")
        except (WaitTimeout, DiskError) as e:
            self.unmount()
            raise DiskError(
                f"{e}; last lines of {self.log_path}:\n{processes.tail(self.log_path)}"
            ) from e

    def _answering(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise DiskError(f"the lazy disk process exited with {self._proc.returncode}")
        if not self.is_mounted():
            return False
        try:
            self.control.status()
        except DiskControlError:
            return False
        return True

    def unmount(self) -> None:
        """Unmount (lazily if a process still holds a file open) and end the process."""
        if self.is_mounted():
            done = subprocess.run(
                ["fusermount3", "-u", str(self.mount_point)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:  # busy: detach now, the kernel finishes when released
                subprocess.run(
                    ["fusermount3", "-uz", str(self.mount_point)], capture_output=True, check=False
                )
        if self._proc is not None:
            try:
                self._proc.wait(timeout=UNMOUNT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                processes.kill(self._proc)  # auto_unmount cleans the mount up after it
            self._proc = None
        (self.state_dir / CONTROL_FILE).unlink(missing_ok=True)
        try:
            wait_until(lambda: not self.is_mounted(), UNMOUNT_TIMEOUT_S, "the unmount")
        except WaitTimeout as e:
            raise DiskError(f"{self.mount_point} is still mounted: {e}") from e
