"""The seams between the crawler and storage, as Protocols.

The crawler only talks to storage through these; ``vksnd.storage.sqlite.SqliteStore`` satisfies them
structurally (storage never imports this module). Swapping SQLite for another engine means
writing one class that satisfies ``ArticleStore`` and ``Frontier``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from vksnd.parsers.records import Article
from vksnd.storage.records import (
    NewUrl,
    RawPage,
    RunCounters,
    StoreResult,
    UrlKind,
    UrlRecord,
)


class Frontier(Protocol):
    async def add_urls(self, urls: Iterable[NewUrl]) -> int:
        """Insert unknown canonical URLs as pending (known ones are left alone, but a listing
        date fills an empty ``listed_on``). Returns how many were new."""
        ...

    async def get_url(self, url: str) -> UrlRecord | None: ...

    async def known_article_urls(self, urls: Sequence[str]) -> set[str]:
        """Those of ``urls`` already mapped to a stored article."""
        ...

    async def due_urls(self, now: datetime, limit: int) -> list[UrlRecord]:
        """Pending URLs, and failed ones whose next_retry_at has passed, oldest first."""
        ...

    async def recent_article_urls(self, published_since: datetime) -> list[UrlRecord]:
        """URLs of current articles published since then (for conditional re-checks)."""
        ...

    async def record_failure(
        self,
        url: str,
        reason: str,
        status: int | None,
        next_retry_at: datetime | None,
        *,
        permanent: bool = False,
    ) -> None:
        """``permanent`` marks GONE (404/410) or SKIPPED instead of FAILED; attempts += 1."""
        ...

    async def record_not_modified(self, url: str, fetched_at: datetime) -> None: ...

    async def record_page(
        self,
        raw: RawPage,
        kind: UrlKind,
        etag: str | None,
        last_modified: str | None,
        not_article: str | None = None,
    ) -> None:
        """Archive a fetched non-article page (listing, home) and mark its URL fetched;
        ``not_article`` says why a page fetched for an article is not one."""
        ...


class ArticleStore(Protocol):
    async def store_article(
        self, article: Article, raw: RawPage, etag: str | None, last_modified: str | None
    ) -> StoreResult:
        """In one transaction: archive ``raw``, mark the URL fetched, and dedupe by content hash
        (new / duplicate / unchanged / new version). ``article.url`` and
        ``article.canonical_url`` both map to the article."""
        ...

    async def start_run(self, kind: str) -> int: ...

    async def finish_run(
        self, run_id: int, counters: RunCounters, *, ok: bool, error: str | None = None
    ) -> None: ...
