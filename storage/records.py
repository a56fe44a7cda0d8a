"""Typed records that cross the storage boundary (crawler <-> storage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from vksnd.parsers.records import Article


class UrlState(StrEnum):
    PENDING = "pending"  # known, never fetched (or returned to the frontier on shutdown)
    FETCHED = "fetched"  # fetched and stored (article, listing or non-article page)
    FAILED = "failed"  # last attempt failed; retried at next_retry_at
    GONE = "gone"  # 404/410: permanent, kept for the record
    SKIPPED = "skipped"  # robots-disallowed, non-HTML, out of scope: recorded, not retried


class UrlKind(StrEnum):
    ARTICLE = "article"
    LISTING = "listing"
    OTHER = "other"


class StoreOutcome(StrEnum):
    NEW = "new"  # first time this content hash is stored
    DUPLICATE = "duplicate"  # the hash is already stored under another URL: URL mapped to it
    UNCHANGED = "unchanged"  # same URL, same hash as its current version
    NEW_VERSION = "new_version"  # same URL, new hash: a new version superseding the old one


@dataclass(frozen=True, slots=True)
class UrlRecord:
    url: str  # canonical URL (the frontier key)
    kind: UrlKind
    state: UrlState
    http_status: int | None
    etag: str | None
    last_modified: str | None
    attempts: int
    last_error: str | None
    next_retry_at: datetime | None
    listed_on: date | None  # the date a listing showed next to the link
    first_seen_at: datetime
    last_fetched_at: datetime | None
    article_id: int | None  # the article (any version) this URL maps to
    not_article: str | None = None  # fetched, but the parser said why it is not an article


@dataclass(frozen=True, slots=True)
class RawPage:
    """A fetched response kept in the archive so pages can be re-extracted without refetching."""

    url: str  # canonical URL the page was fetched for
    final_url: str  # after redirects
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: StoreOutcome
    article_id: int
    seq: int
    content_hash: str


@dataclass(frozen=True, slots=True)
class RunCounters:
    listing_pages: int = 0
    pages_fetched: int = 0
    not_modified: int = 0
    new_articles: int = 0
    new_versions: int = 0
    duplicates: int = 0
    unchanged: int = 0
    failures: int = 0
    skipped: int = 0
    extra: tuple[tuple[str, int], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class StoreRequest:
    """One item of ``SqliteStore.store_articles``: the arguments of ``store_article``."""

    article: Article
    raw: RawPage
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class ArchivedPage:
    """An archived article page, with the version its URL maps to now (for ``reparse``), or a
    page fetched for an article that the parser of the day refused (``not_article``)."""

    page_id: int
    url: str
    final_url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    fetched_at: datetime
    listed_on: date | None  # the listing date of the URL (the parser's date fallback)
    article_id: int | None  # the current version of the article the URL maps to, if any
    content_hash: str | None  # the hash the URL showed when last stored
    not_article: str | None = None  # set: fetched for an article, refused by the parser then
