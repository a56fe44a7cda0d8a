"""A small real filesystem for the disk tests: a ``tmpfs`` mounted for the test.

Full is a tmpfs of a few hundred KB; read-only is the same mount remounted ``ro`` (``chmod``
does not stop root, a read-only mount does). Mounting needs root or CAP_SYS_ADMIN: where it is
refused, the test using the fixture skips.
"""

from __future__ import annotations

import gc
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Mount = Callable[..., Path]


def _mount(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Mount]:
    """``small_fs(size="256k", ro=False)`` mounts (or remounts) a tmpfs at ``tmp_path/fs``."""
    where = tmp_path / "fs"
    where.mkdir()
    mounted = False

    def mount(size: str = "256k", *, ro: bool = False) -> Path:
        nonlocal mounted
        gc.collect()  # `with sqlite3.connect()` does not close: drop leaked handles before `ro`
        options = f"size={size}" + (",ro" if ro else ",rw")
        if mounted:
            done = _mount(["-o", f"remount,{options}", str(where)])
        else:
            done = _mount(["-t", "tmpfs", "-o", options, "tmpfs", str(where)])
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {done.stderr.strip()}")
        mounted = True
        return where

    yield mount
    if mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)
