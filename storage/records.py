"""Typed records that cross the storage boundary (crawler <-> storage)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
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
class NewUrl:
    """A URL for the frontier: canonical, what it is, and the date a listing showed beside it."""

    url: str
    kind: UrlKind
    listed_on: date | None = None


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


def _detail() -> int:
    """A counter a run's summary line leaves out (its log line and stored counters keep it)."""
    return field(default=0, metadata={"detail": True})


@dataclass(slots=True)
class RunCounters:
    """What one run counted. The run's steps add to it as pages go by (one object per run,
    mutable while the run lasts); storage keeps it with the run, metrics add finished runs up."""

    listing_pages: int = 0
    pages_fetched: int = 0
    not_modified: int = 0
    new_articles: int = 0
    new_versions: int = 0
    duplicates: int = 0
    unchanged: int = 0
    failures: int = 0
    skipped: int = 0
    not_articles: int = _detail()  # fetched for an article, not one (listing, error page...)
    out_of_range: int = _detail()  # articles outside a backfill's dates: left pending
    dropped_on_stop: int = _detail()  # queued when a stop came: left pending
    parse_fallbacks: int = _detail()  # articles the site profile missed (generic extractor)

    @property
    def stored(self) -> int:
        return self.new_articles + self.new_versions

    def headline(self) -> dict[str, int]:
        """Every counter but the details, zero or not: what a run's summary line shows."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata}

    def nonzero_details(self) -> dict[str, int]:
        return {
            f.name: value for f in fields(self) if f.metadata and (value := getattr(self, f.name))
        }


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
