"""The storage engine the crawler runs on: the one crawler module that names it.

Everything else in ``vksnd.crawler`` holds a store or a reader through the Protocols of
``vksnd.crawler.crawl.ports``; the commands and the service open them here, with the storage
settings.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path

from vksnd.crawler.config import DEFAULT_PROFILE, StorageConfig
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.urls import article_key_text
from vksnd.storage.reader import SqliteReader
from vksnd.storage.sites import SiteMap
from vksnd.storage.sqlite import SqliteStore, StoreConfig
from vksnd.storage.writer_lock import WriterLock

# The writer's type, for the crawler modules that open one through this module.
WriterStore = SqliteStore


def store_config(
    config: StorageConfig,
    profile: SiteProfile = DEFAULT_PROFILE,
    *,
    sites: SiteMap | None = None,
    url_key: Callable[[str], str | None] | None = None,
) -> StoreConfig:
    """``url_key``: a URL's article key (several sites: by the URL's site); default: the
    ``profile``'s rule."""
    return StoreConfig(
        archive=config.archive_pages,
        compression_level=config.archive_compression_level,
        busy_timeout_ms=config.db_busy_timeout_ms,
        checkpoint_every=config.db_checkpoint_every,
        sites=sites or SiteMap(),
        url_key=url_key or functools.partial(article_key_text, profile=profile),
    )


async def open_store(
    path: Path,
    config: StorageConfig,
    *,
    wait: bool = False,
    profile: SiteProfile = DEFAULT_PROFILE,
    sites: SiteMap | None = None,
    url_key: Callable[[str], str | None] | None = None,
) -> SqliteStore:
    """The writer (frontier, articles, runs, reparse): creates and migrates the file if need be.
    It holds the database's writer lock until closed: another writing vksnd is refused with
    ``DatabaseBusy``, or waited for with ``wait``. ``profile``: the site whose rule names a
    frontier URL's article key; ``sites``: whose rows are whose, by host (several sites)."""
    lock = await WriterLock.acquire(path, owner=_command(), wait=wait)
    config_ = store_config(config, profile, sites=sites, url_key=url_key)
    return await SqliteStore.open(path, config_, writer_lock=lock)


def _command() -> str:
    """The vksnd command this process runs (``crawl``), for a refused writer's message."""
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    return words[0] if words and words[0].isalpha() else ""


def open_reader(path: Path, config: StorageConfig) -> SqliteReader:
    """A reader on its own snapshot; refuses a missing or unmigrated database."""
    return SqliteReader.open(path, config.db_busy_timeout_ms)
