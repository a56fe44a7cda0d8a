"""The storage engine the crawler runs on: the one crawler module that names it.

Everything else in ``vksnd.crawler`` holds a store or a reader through the Protocols of
``vksnd.crawler.crawl.ports``; the commands and the service open them here, with the storage
settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vksnd.crawler.config import StorageConfig
from vksnd.storage.reader import SqliteReader
from vksnd.storage.sites import SiteMap
from vksnd.storage.sqlite import SqliteStore, StoreConfig
from vksnd.storage.writer_lock import WriterLock


def store_config(config: StorageConfig, sites: SiteMap | None = None) -> StoreConfig:
    return StoreConfig(
        archive=config.archive_pages,
        compression_level=config.archive_compression_level,
        busy_timeout_ms=config.db_busy_timeout_ms,
        checkpoint_every=config.db_checkpoint_every,
        sites=sites or SiteMap(),
    )


async def open_store(
    path: Path, config: StorageConfig, *, wait: bool = False, sites: SiteMap | None = None
) -> SqliteStore:
    """The writer (frontier, articles, runs, reparse): creates and migrates the file if need be.
    It holds the database's writer lock until closed: another writing vksnd is refused with
    ``DatabaseBusy``, or waited for with ``wait``. ``sites``: whose rows are whose, by host."""
    lock = await WriterLock.acquire(path, owner=_command(), wait=wait)
    return await SqliteStore.open(path, store_config(config, sites), writer_lock=lock)


def _command() -> str:
    """The vksnd command this process runs (``crawl``), for a refused writer's message."""
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    return words[0] if words and words[0].isalpha() else ""


def open_reader(path: Path, config: StorageConfig) -> SqliteReader:
    """A reader on its own snapshot; refuses a missing or unmigrated database."""
    return SqliteReader.open(path, config.db_busy_timeout_ms)
