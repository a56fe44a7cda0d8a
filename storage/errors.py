"""Errors raised by the storage package.

    StorageError(path, reason)          anything storage refuses or SQLite reports; carries the path
     ├── DatabaseLocked(path)           another writer held the lock past the busy timeout
     ├── DatabaseBusy(path, holder)     another vksnd holds the database for a whole run
     ├── DiskFull(path)                 SQLITE_FULL, or ENOSPC while exporting
     ├── ReadOnlyDatabase(path)         the file or its directory is not writable
     ├── CorruptDatabase(path, reason)  not a database, or a damaged one
     ├── DatabaseMissing(path)          a reader (export, stats) found no database file
     ├── SchemaMismatch(path, found, expected)
     │                                  written by a newer vksnd, or not migrated yet (readers)
     └── ExportError(path, reason)      the export directory or a file in it cannot be written

``sqlite3`` errors are translated here (``translate_sqlite_error``) so callers never catch
``sqlite3`` or ``aiosqlite`` types; nothing else escapes ``storage``.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

# Primary SQLite result codes (the low byte of an extended code).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26


class StorageError(Exception):
    """Storage could not do what was asked."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{reason}: {self.path}")


class DatabaseLocked(StorageError):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "database is locked by another writer (busy timeout expired)")


class DatabaseBusy(StorageError):
    """Another vksnd process holds the database for writing (``storage.writer_lock``)."""

    def __init__(self, path: Path | str, holder: str | None = None) -> None:
        self.holder = holder
        who = f" ({holder})" if holder else ""
        super().__init__(
            path,
            f"another vksnd{who} is writing to this database; let it finish or stop it"
            " (or pass --wait to wait for it)",
        )


class DiskFull(StorageError):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "disk full")


class ReadOnlyDatabase(StorageError):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "database is read-only")


class CorruptDatabase(StorageError):
    pass


class DatabaseMissing(StorageError):
    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "no database (run a crawl first, or pass --db)")


class SchemaMismatch(StorageError):
    def __init__(self, path: Path | str, found: int, expected: int) -> None:
        self.found = found
        self.expected = expected
        if found > expected:
            reason = f"schema version {found} is newer than this vksnd knows ({expected})"
        else:
            reason = f"schema version {found} is older than {expected}; open it for writing once"
        super().__init__(path, reason)


class ExportError(StorageError):
    pass


def translate_sqlite_error(exc: sqlite3.Error, path: Path | str) -> StorageError:
    """Map a ``sqlite3`` error to our tree, by SQLite result code where it has one."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseLocked(path)
    if primary == _SQLITE_FULL:
        return DiskFull(path)
    if primary == _SQLITE_READONLY:
        return ReadOnlyDatabase(path)
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return CorruptDatabase(path, f"corrupt database ({exc})")
    if primary == _SQLITE_CANTOPEN:
        # WAL needs to create -wal/-shm beside the file: a read-only directory or mount
        # fails here, before any write could say READONLY.
        if not os.access(Path(path).parent, os.W_OK):
            return ReadOnlyDatabase(path)
        return StorageError(path, f"cannot open database ({exc})")
    return StorageError(path, f"sqlite error ({type(exc).__name__}: {exc})")


def translate_os_error(exc: OSError, path: Path | str) -> StorageError:
    """Map an ``OSError`` met while writing files (export) to our tree."""
    if exc.errno == errno.ENOSPC:
        return DiskFull(path)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ExportError(path, f"not writable ({exc.strerror})")
    return ExportError(path, f"{type(exc).__name__}: {exc.strerror or exc}")
