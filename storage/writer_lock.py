"""One writing vksnd per database: an exclusive lock held for a whole run.

SQLite serialises transactions, not runs: two crawls on one file would each walk the whole site
and fetch every page twice, each sure it is alone. So a writing command (crawl, backfill, run,
reparse, retry) takes ``flock`` on ``DB.lock`` before it opens the database and keeps it until it
closes; a second one is refused with ``DatabaseBusy`` naming the holder (pid, command, since
when), or, asked to wait, polls until the first one is done. Readers (stats, export, the HTTP
API) never take it: WAL lets them read beside the writer.

The kernel drops the lock when its holder dies (SIGKILL included), so a crash never leaves the
database locked; the file itself stays, holding the last holder's line.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from vksnd.storage.errors import DatabaseBusy, ReadOnlyDatabase, StorageError

log = logging.getLogger("vksnd.storage")

DEFAULT_POLL_SECONDS = 0.5  # how often a waiting writer tries the lock again
_MAX_HOLDER_BYTES = 512


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


class WriterLock:
    """``lock = await WriterLock.acquire(db, owner="crawl")`` … ``lock.release()``."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    async def acquire(
        cls,
        db: Path,
        *,
        owner: str = "",
        wait: bool = False,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> WriterLock:
        """Take the lock, or raise ``DatabaseBusy`` (``wait``: try again until it is free)."""
        path = lock_path(db)
        fd = _open(path, db)
        announced = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _holder(fd)
                    if not wait:
                        raise DatabaseBusy(db, holder) from None
                    if not announced:
                        log.info(
                            f"waiting for the other writer of {db} ({holder or 'unknown'})",
                            extra={"event": "writer_wait", "path": str(db), "holder": holder},
                        )
                        announced = True
                    await asyncio.sleep(poll_seconds)  # the other run may take hours
            _write_holder(fd, owner)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock


def _open(path: Path, db: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise ReadOnlyDatabase(db) from exc
        reason = exc.strerror or type(exc).__name__
        raise StorageError(
            path.parent, f"cannot create the database's directory ({reason})"
        ) from exc


def _holder(fd: int) -> str | None:
    try:
        text = os.pread(fd, _MAX_HOLDER_BYTES, 0).decode("utf-8", errors="replace").strip()
    except OSError:
        return None
    return text or None


def _write_holder(fd: int, owner: str) -> None:
    """Who holds the lock, for the message a refused writer prints. Best effort: a full disk
    must not stop the run that could otherwise say so itself."""
    since = datetime.now(UTC).isoformat(timespec="seconds")
    line = f"pid {os.getpid()}" + (f", vksnd {owner}" if owner else "") + f", since {since}"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, line.encode("utf-8"), 0)
    except OSError:
        pass
