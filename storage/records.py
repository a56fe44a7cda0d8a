"""Typed records that cross the storage boundary (crawler <-> storage): what is written, and what
the readers return (stats, the article feed, the export)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from vksnd.parsers.records import Article
from vksnd.storage.sites import DEFAULT_SITE


class UrlState(StrEnum):
    PENDING = "pending"  # known, never fetched (or returned to the frontier on shutdown)
    FETCHED = "fetched"  # fetched and stored (article, listing or non-article page)
    FAILED = "failed"  # last attempt failed; retried at next_retry_at
    GONE = "gone"  # 404/410: permanent, kept for the record
    SKIPPED = "skipped"  # robots-disallowed, non-HTML, out of scope: recorded, not retried


class ReasonClass(StrEnum):
    """Why a URL is failed, skipped or gone, as a class a person (and ``vksnd retry``) can pick.

    Transient classes (``TRANSIENT``) leave the URL ``failed`` and come back after a short,
    doubling backoff; the others leave it ``skipped`` and come back on a long schedule, except
    ``gone`` and ``out_of_scope``, which only ``vksnd retry`` re-queues."""

    NETWORK = "network"  # no answer: refused, reset, timeout, truncated body
    SERVER = "server"  # 5xx, 408 (robots.txt answering 5xx too)
    THROTTLED = "throttled"  # 429
    ROBOTS = "robots"  # robots.txt disallows the URL
    TOO_LARGE = "too_large"  # body over max_body_bytes
    REDIRECT = "redirect"  # redirect loop, off-scope target, too many hops
    NOT_HTML = "not_html"
    CLIENT = "client"  # a 4xx other than 404/408/410/429
    GONE = "gone"  # 404, 410
    PARSE = "parse"  # the page could not be read as an article or a listing
    OUT_OF_SCOPE = "out_of_scope"

    @property
    def transient(self) -> bool:
        return self in TRANSIENT_REASONS

    @property
    def retried_on_schedule(self) -> bool:
        """Comes back by itself (soon if transient, after days otherwise)."""
        return self not in (ReasonClass.GONE, ReasonClass.OUT_OF_SCOPE)


TRANSIENT_REASONS = frozenset({ReasonClass.NETWORK, ReasonClass.SERVER, ReasonClass.THROTTLED})


class RunOutcome(StrEnum):
    """How a run ended: the one word the summary line, ``vksnd stats``, the run table, the logs
    (``outcome``), the metrics (``vksnd_passes_total{outcome}``) and ``/healthz`` all use."""

    OK = "ok"  # nothing left to do in the run's scope
    PARTIAL = "partial"  # some of the scope failed or was skipped, and is queued for retry
    FAILED = "failed"  # nothing could be fetched, no usable article links, or an error
    INTERRUPTED = "interrupted"  # stopped by a signal before the scope was done


class UrlKind(StrEnum):
    ARTICLE = "article"
    LISTING = "listing"
    OTHER = "other"


class StoreOutcome(StrEnum):
    NEW = "new"  # first time this content hash is stored
    DUPLICATE = "duplicate"  # the hash is already stored under another URL: URL mapped to it
    UNCHANGED = "unchanged"  # same URL, same hash as its current version
    NEW_VERSION = "new_version"  # same URL, new hash: a new version superseding the old one


def failure_state(
    status: int | None, *, permanent: bool, reason_class: ReasonClass | None
) -> UrlState:
    """The state a failure leaves a URL in: GONE, SKIPPED (permanent) or FAILED."""
    if reason_class is not None:
        if reason_class is ReasonClass.GONE:
            return UrlState.GONE
        return UrlState.FAILED if reason_class.transient else UrlState.SKIPPED
    if permanent:
        return UrlState.GONE if status in (404, 410) else UrlState.SKIPPED
    return UrlState.FAILED


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
    reason_class: ReasonClass | None = None  # set while failed, skipped or gone
    scope: str | None = None  # the listing scope it was first seen in ("cat:2")
    site: str = DEFAULT_SITE  # whose URL it is (``storage.sites``)


@dataclass(frozen=True, slots=True)
class NewUrl:
    """A URL for the frontier: canonical, what it is, the date a listing showed beside it and
    the listing scope it was seen in (a category today: ``cat:2``)."""

    url: str
    kind: UrlKind
    listed_on: date | None = None
    scope: str | None = None


class ListingState(StrEnum):
    PENDING = "pending"  # the walk will read it next (or was stopped before it could)
    READ = "read"
    FAILED = "failed"  # could not be read; its URL waits for a retry in the frontier


@dataclass(frozen=True, slots=True)
class ListingPage:
    """A listing page as a walk left it (``listing_pages``): what it lists (``scope``), its
    number when the pager numbers pages, and the dates it showed. A failed page's ``newest``
    and ``oldest`` bound the hole it leaves (the dates of the pages read around it).

    ``floor``: the walk wanted the items dated on or after it (a backfill's ``--since``);
    None: every item it does not know (an incremental walk). A walk resumed from this page
    wants what the walk that left it wanted."""

    url: str
    scope: str
    number: int | None
    floor: date | None
    state: ListingState
    newest: date | None = None
    oldest: date | None = None
    items: int = 0


@dataclass(frozen=True, slots=True)
class DueListing:
    """A listing page to walk on from (pending, or failed and due): a resume point. ``scope``
    is None for a page noted before scopes were kept (the crawler matches its URL)."""

    url: str
    scope: str | None
    number: int | None
    floor: date | None


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

    listing_pages: int = 0  # listing pages read
    listing_failures: int = 0  # listing pages that could not be read (queued for retry)
    pages_fetched: int = 0
    not_modified: int = 0
    new_articles: int = 0
    new_versions: int = 0
    duplicates: int = 0
    unchanged: int = 0
    failures: int = 0  # article URLs left failed (transient: retried soon)
    skipped: int = 0  # article URLs left skipped (retried on a long schedule)
    gone: int = 0  # article URLs answering 404/410
    listing_items: int = _detail()  # article links seen on the listing pages read
    rechecks: int = _detail()  # conditional GETs of stored articles (recent, then rolling)
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
    codec: str = "identity"  # how ``body`` is encoded (``archive.decode_body``): as stored, or not


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    kind: str
    started_at: str
    finished_at: str | None
    outcome: RunOutcome | None  # None: still running, or killed before it could finish
    reason: str | None  # why the outcome is not "ok", in a line
    counters: tuple[tuple[str, int], ...]
    site: str = DEFAULT_SITE  # the site the run crawled

    @property
    def ok(self) -> bool | None:
        return None if self.outcome is None else self.outcome is RunOutcome.OK


@dataclass(frozen=True, slots=True)
class SiteStats:
    """One site's share of the store (``sites = [...]`` crawls several into one)."""

    site: str
    articles: int  # distinct articles (version chains)
    versions: int
    current_versions: int
    urls_by_state: tuple[tuple[str, int], ...]
    last_run_outcome: RunOutcome | None = None  # of its newest finished run
    last_run_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls_by_state"] = dict(self.urls_by_state)
        return data


@dataclass(frozen=True, slots=True)
class ScopeStats:
    """One listing scope (a category today): how far its listings were read, what is missing.

    ``walked_to``: the oldest listing date read; ``complete_to``: the oldest date down to which
    every listing page was read (None: a page at the top is missing); a date range is complete
    when ``complete_to`` is at or before its start."""

    scope: str
    pages_read: int
    pages_failed: int  # listing pages failed, skipped or gone, and not read since
    walked_to: str | None
    complete_to: str | None
    last_read_at: str | None
    articles_stored: int
    articles_pending: int
    articles_failed: int
    articles_skipped: int
    articles_gone: int


@dataclass(frozen=True, slots=True)
class StorageStats:
    path: str
    db_bytes: int  # the file plus its WAL
    urls_by_state: tuple[tuple[str, int], ...]
    urls_by_kind: tuple[tuple[str, int], ...]
    not_articles_by_reason: tuple[tuple[str, int], ...]  # fetched for an article, not one
    articles: int  # distinct articles (version chains)
    versions: int  # stored versions, every edit counted
    current_versions: int
    superseded_versions: int
    reverted_versions: int  # versions restoring an older text
    article_urls: int  # URLs (fetched or canonical) mapped to an article
    urls_collapsed: int  # fetched URLs folded into an article another URL already had
    pages_archived: int
    archive_bytes: int  # compressed bodies
    raw_bytes: int  # the same bodies uncompressed
    failures_by_reason: tuple[tuple[str, int], ...]
    last_runs: tuple[RunSummary, ...]
    # URLs failed / skipped / gone now, by state and reason class ("failed/server")
    waiting_by_reason: tuple[tuple[str, int], ...] = ()
    scopes: tuple[ScopeStats, ...] = ()
    sites: tuple[SiteStats, ...] = ()  # the same counts per site

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        pairs = (
            "urls_by_state",
            "urls_by_kind",
            "not_articles_by_reason",
            "failures_by_reason",
            "waiting_by_reason",
        )
        for key in pairs:
            data[key] = dict(getattr(self, key))
        data["last_runs"] = [
            {**asdict(run), "ok": run.ok, "counters": dict(run.counters)} for run in self.last_runs
        ]
        data["sites"] = [site.as_json() for site in self.sites]
        return data


_HASH_RE = re.compile(r"^[0-9a-f]{16,}$")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    after_seq: int | None = None  # only versions with a larger seq
    since: date | None = None  # only articles published that day or later (local date)
    include_superseded: bool = False  # every version, not only the current ones
    site: str | None = None  # only this site's articles (``storage.sites``)


@dataclass(frozen=True, slots=True)
class ExportReport:
    matched: int  # versions matching the filter
    written: int  # new files (each with a manifest line)
    restored: int  # listed in the manifest but missing on disk: rewritten, not relisted
    skipped: int  # already exported
    removed: int = 0  # superseded (or deleted) versions taken out of the folder and manifest


@dataclass(frozen=True, slots=True)
class ExportedArticle:
    """One article version as the export sees it."""

    seq: int
    content_hash: str
    canonical_url: str
    aliases: tuple[str, ...]
    title: str
    published_at: str | None
    author: str | None
    category: str | None
    captions: tuple[str, ...]
    images: tuple[str, ...]
    extractor: str
    is_current: bool
    supersedes: str | None  # file name of the version this one replaced
    superseded_by: str | None
    reverts_to: str | None  # file name of the older version whose text this one restores
    stored_at: str
    text: str
    site: str = DEFAULT_SITE

    @property
    def file_name(self) -> str:
        return corpus_file_name(self.seq, self.content_hash)

    def manifest_entry(self, *, with_text: bool = False) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "file": self.file_name,
            "seq": self.seq,
            "content_hash": self.content_hash,
            "canonical_url": self.canonical_url,
            "aliases": list(self.aliases),
            "title": self.title,
            "published_at": self.published_at,
            "author": self.author,
            "category": self.category,
            "captions": list(self.captions),
            "images": list(self.images),
            "extractor": self.extractor,
            "is_current": self.is_current,
            "supersedes": self.supersedes,
            "superseded_by": self.superseded_by,
            "reverts_to": self.reverts_to,
            "stored_at": self.stored_at,
            "site": self.site,
        }
        if with_text:
            entry["text"] = self.text
        return entry


def corpus_file_name(seq: int, content_hash: str) -> str:
    """``f"{seq:03d}_{content_hash[:16]}.txt"``; refuses anything but a hex hash."""
    if seq < 0 or not _HASH_RE.match(content_hash):
        raise ValueError(f"not a corpus name: seq={seq!r} hash={content_hash[:40]!r}")
    return f"{seq:03d}_{content_hash[:16]}.txt"


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of the article feed: versions in ``seq`` order after a cursor, and the next."""

    articles: tuple[ExportedArticle, ...]
    next_after_seq: int  # the cursor for the next page (the last seq here, or the one given)
    has_more: bool
