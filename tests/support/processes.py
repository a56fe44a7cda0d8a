"""The processes of a process group, read from /proc: a command started in a session of its own
(``start_new_session=True``) has every descendant in its group, pool workers included."""

from __future__ import annotations

import time
from pathlib import Path


def group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # gone meanwhile
            continue
        # after "pid (comm)": state, ppid, pgrp; a zombie has nothing left to run
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def wait_for_empty_group(pgid: int, timeout: float = 30.0) -> list[int]:
    """Poll until no live process is left in the group; what is left at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition with a deadline
    return left
