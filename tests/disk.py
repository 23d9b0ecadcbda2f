"""Databases that stop taking writes while the service runs: a full disk, a write ban.

FullDisk is a small tmpfs holding the database file, filled to its last byte by a
filler file (writes then fail with ENOSPC: SQLite's "database or disk is full") and
freed by deleting it. Mounting needs root; elsewhere the tests using it are skipped
and WriteBan, which needs nothing, still runs. WriteBan sets the service process's
RLIMIT_FSIZE to 0 (prlimit), so every write to any file fails (EFBIG: SQLite's
"disk I/O error"), as on a file system gone read-only; lifting it is the recovery.
"""

from __future__ import annotations

import errno
import resource
import subprocess
from pathlib import Path

import pytest

FILL_CHUNK = 64 * 1024


class FullDisk:
    def __init__(self, mount_point: Path, size: str = "8m") -> None:
        mount_point.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()})")
        self.mount_point = mount_point
        self.filler = mount_point / "filler"

    def fill(self) -> None:
        """Write until the file system refuses a single byte more."""
        with self.filler.open("ab", buffering=0) as out:
            for size in (FILL_CHUNK, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.mount_point)], check=False)


class WriteBan:
    """Every file write of one process fails until lifted."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)

    def fill(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (0, self.limits[1]))

    def free(self) -> None:
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, self.limits)
