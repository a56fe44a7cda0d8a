"""Effective settings: flags > ``VKSND_*`` environment > TOML file > defaults.

Settings are loaded once by a command and passed down explicitly as small frozen objects (no
globals). Every setting has one flat key used everywhere: the TOML key (``rate = 2``), the
environment variable (``VKSND_RATE``) and the argparse ``dest`` (``--rate``). ``resolve_settings``
also says where each value came from, which ``vksnd config`` prints.

Each setting is declared once, as a field of the frozen dataclasses below with its converter and
help in the field's metadata (``setting(...)``); the table of flat keys (``KEYS``) is derived from
those fields, so a new field is a new key and the two cannot drift. A key is the field's name
unless the metadata names another (the ``retry_`` keys of ``RetryConfig``).

Scope: when the base URL is the real portal (one of the profile's hosts) the scope is all the
profile's host aliases; any other base URL (the replica on ``127.0.0.1:PORT``) is its own and only
host:port, so a test crawl can never wander onto the real site.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from vksnd.parsers.article import DEFAULT_MAX_BYTES
from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.load import load_profile, with_listing_template
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.urls import host_key
from vksnd.storage.sites import SITE_NAME_RE, SiteNameError, check_site_name
from vksnd.storage.sqlite import StoreConfig

DEFAULT_PROFILE = PROFILE  # the built-in vksndtc profile
DEFAULT_BASE_URL = PROFILE.base_url
DEFAULT_DB = Path("./data/vksnd.db")
DEFAULT_CONFIG_PATH = Path("./vksnd.toml")
DEFAULT_CONTACT_URL = "https://github.com/vksnd/vksnd"
DEFAULT_LOG_FORMAT: Literal["text", "json"] = "text"
DEFAULT_LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
# fetch
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_POOL_TIMEOUT = 10.0
DEFAULT_TOTAL_TIMEOUT = 60.0  # one attempt, headers + whole body
DEFAULT_MAX_BODY_BYTES = DEFAULT_MAX_BYTES  # the parser's own cap: it refuses larger pages
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_GLOBAL_CONCURRENCY = 16  # requests in flight, all hosts together
DEFAULT_ROBOTS_MAX_BYTES = 512 * 1024  # Google reads the first 500 KiB of a robots.txt
# Idle connections are dropped well before servers usually close them (Apache 5 s, IIS 120 s,
# the replica 30 s): reusing one the server just closed costs a failed attempt.
DEFAULT_KEEPALIVE_EXPIRY = 4.0
# politeness
DEFAULT_RATE = 2.0  # requests per second per host
DEFAULT_HOST_CONCURRENCY = 4  # requests in flight per host
DEFAULT_OBEY_ROBOTS = True
DEFAULT_ROBOTS_TTL = 86400.0  # robots.txt fetched once per host per day
DEFAULT_ROBOTS_ERROR_TTL = 300.0  # robots.txt 5xx/unreachable: disallow, ask again after this
DEFAULT_SLOWDOWN_SECONDS = 300.0  # after a 429/503 the host runs at rate / slowdown_factor...
DEFAULT_SLOWDOWN_FACTOR = 4.0  # ...for this long
DEFAULT_MAX_CRAWL_DELAY = 300.0  # a longer robots.txt Crawl-delay would stall the crawl: capped
# retry (within one fetch)
DEFAULT_RETRY_ATTEMPTS = 4
DEFAULT_RETRY_MAX_DELAY = 120.0  # stop retrying a URL after this; the daemon retries it later
DEFAULT_RETRY_INITIAL = 1.0
DEFAULT_RETRY_MAX_WAIT = 30.0
DEFAULT_RETRY_JITTER = 1.0
DEFAULT_RETRY_AFTER_CAP = 300.0
# crawl
DEFAULT_RECHECK_DAYS = 14
DEFAULT_REVALIDATE_DAYS = 30.0  # every stored article re-checked at least once in this window
DEFAULT_INTERVAL_MINUTES = 30.0
DEFAULT_INTERVAL_JITTER = 120.0
DEFAULT_RETRY_PASS_MINUTES = 60.0
DEFAULT_DUE_LIMIT = 5_000  # due URLs taken per pass; the rest wait for the next one
DEFAULT_LISTING_MAX_PAGES = 10_000  # a runaway pager (a "next" link that loops) stops here
DEFAULT_FAILED_URL_BACKOFF_MINUTES = 5.0  # a failed URL is due again after this, doubled...
DEFAULT_FAILED_URL_BACKOFF_MAX_MINUTES = 1440.0  # ...per attempt, up to this
DEFAULT_SKIPPED_RETRY_DAYS = 7.0  # a skipped URL is tried again after this, doubled per attempt
SKIPPED_RETRY_MAX_FACTOR = 8  # ...up to 8 times as long
DEFAULT_PARSE_EXECUTOR: Literal["thread", "process"] = "thread"  # see bench/crawl.py
DEFAULT_PARSE_WORKERS = 2
DEFAULT_PARSE_BATCH = 8  # waiting pages sent to the parse executor at once, at most
DEFAULT_STORE_BATCH = 32  # articles per transaction, at most
# service
DEFAULT_HTTP_STATS_TTL = 10.0  # seconds a database snapshot serves /healthz and /metrics
DEFAULT_HTTP_MAX_READS = 4  # database reads the HTTP API runs at once
DEFAULT_HEALTH_MAX_FAILURES = 25  # pages a pass leaves failed or skipped before /healthz degrades
# storage: the engine's own defaults (its StoreConfig)
_STORE = StoreConfig()

ExecutorKind = Literal["thread", "process"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value we cannot use; names the key, the value and where it came from."""

    def __init__(self, key: str, value: object, source: str, reason: str) -> None:
        self.key = key
        self.value = value
        self.source = source
        self.reason = reason
        super().__init__(f"setting {key}={value!r} (from {source}): {reason}")


def package_version() -> str:
    try:
        return metadata.version("vksnd")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def default_user_agent(contact_url: str = DEFAULT_CONTACT_URL) -> str:
    return f"vksnd/{package_version()} (+{contact_url}; research crawler)"


# --- converters: a raw value (flag, env string, TOML value) -> the field's type ---------------


def _to_str(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _to_path(value: object) -> object:
    if isinstance(value, Path):
        return value
    return Path(str(_to_str(value)))


def _to_opt_path(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return _to_path(value)


def _to_opt_str(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    return _to_str(value)


def _positive(kind: type[int] | type[float]) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("expected a number")
        number = kind(value) if isinstance(value, (int, float, str)) else None
        if number is None or not number > 0 or number != number or number == float("inf"):
            raise ValueError("expected a positive finite number")
        return number

    return convert


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(value: object, default_unit: str) -> float:
    """``90s``, ``30m``, ``1.5h``, ``2d``; a bare number (or a TOML number) is in
    ``default_unit``. The one parser of the flags (``--interval 2h``), the environment
    (``VKSND_INTERVAL=2h``) and the file, so the three accept the same forms."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a duration (30s, 15m, 2h)")
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"not a duration: {value!r} (try 30s, 15m, 2h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or default_unit]


def _duration(unit: str, *, zero: bool = False) -> Callable[[object], object]:
    """A converter to a number of ``unit`` (minutes: "m", seconds: "s") from any duration."""

    def convert(value: object) -> object:
        seconds = duration_seconds(value, unit)
        if seconds < 0 or (seconds == 0 and not zero) or seconds == float("inf"):
            raise ValueError("expected a positive duration" + (" or 0" if zero else ""))
        return seconds / _UNIT_SECONDS[unit]

    return convert


def _non_negative_float(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number")
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("expected a number >= 0")
    return number


def _to_bool(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _to_base_url(value: object) -> object:
    text = str(_to_str(value)).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an absolute http(s) URL")
    if parts.path or parts.query or parts.fragment:
        raise ValueError("expected scheme://host[:port] only")
    return text


def _to_categories(value: object) -> object:
    """Category ids or slugs (checked against the profile once it is known: ``_fit_profile``)."""
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.replace(",", " ").split() if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError("expected a list of category ids or slugs")
    found: list[int | str] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and item > 0:
            found.append(item)
        elif isinstance(item, str) and item.strip().isdigit() and int(item) > 0:
            found.append(int(item))
        elif isinstance(item, str) and item.strip():
            found.append(item.strip())
        else:
            raise ValueError("expected positive integer category ids or slugs")
    if not found:
        raise ValueError("expected at least one category")
    return tuple(found)


def _to_template(value: object) -> object:
    text = str(_to_str(value))
    if "{page}" not in text or not text.startswith("/"):
        raise ValueError("expected a path containing {page} (and {id} or {slug}/{section})")
    try:
        text.format(cat=1, id=1, page=1, slug="s", section="t")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"unknown placeholder in template ({exc})") from exc
    return text


def _to_profile(value: object) -> object:
    """A built-in profile's name or a profile file's path, loaded and checked."""
    if isinstance(value, SiteProfile):
        return value
    try:
        return load_profile(str(_to_str(value)))
    except ProfileError as exc:
        raise ValueError(str(exc)) from None


def _choice(*options: str, upper: bool = False) -> Callable[[object], object]:
    def convert(value: object) -> object:
        text = value.strip().upper() if upper and isinstance(value, str) else value
        if text not in options:
            raise ValueError("expected " + " or ".join(repr(o) for o in options))
        return text

    return convert


def _int_between(low: int, high: int) -> Callable[[object], object]:
    def convert(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError("expected an integer")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return number

    return convert


# --- settings: fields of the frozen dataclasses, declared once ------------------------------

_SETTING = "vksnd.setting"


@dataclass(frozen=True, slots=True)
class _Declared:
    """What a settings field's metadata holds."""

    convert: Callable[[object], object]
    help: str
    key: str | None  # the flat key when it is not the field's name


def setting(default: T, convert: Callable[[object], object], help: str, *, key: str = "") -> T:
    """A settings field: its default, how a raw value becomes one, and a line of help."""
    declared = _Declared(convert, help, key or None)
    field: T = dataclasses.field(default=default, metadata={_SETTING: declared})
    return field


def setting_from(factory: Callable[[], T], convert: Callable[[object], object], help: str) -> T:
    """``setting`` with a default computed when the object is made."""
    declared = _Declared(convert, help, None)
    field: T = dataclasses.field(default_factory=factory, metadata={_SETTING: declared})
    return field


# --- the sites setting: several sites into one database ----------------------------------
#
# The ``sites`` setting: several sites crawled together into one database.
#
# Three spellings, one meaning (a tuple of ``SiteEntry``):
#
#     sites = ["vksndtc", "baovephapluat"]             # TOML: profile names (or files)
#     VKSND_SITES=vksndtc,baovephapluat                 # environment, or --sites on a command
#
#     [sites.vksndtc]                                   # TOML: a table per site, in crawl order,
#     [sites.baovephapluat]                             # with what differs for that site
#     base_url = "http://127.0.0.1:8081"
#     rate = 0.5
#
# A site is named by its profile (``vksndtc``, ``baovephapluat``, or a profile file's name); a
# table may name another ``profile`` (a built-in name or a TOML path) for the site. TOML cannot
# hold ``sites`` as a list and as tables at once: the tables are the list then. Empty (the default):
# one site, the one ``profile`` chooses, as before.
#
# Each site gets its own base URL, scope, listing walk and politeness (rate, concurrency,
# robots.txt, slow-downs): ``vksnd.crawler.crawl.sites`` builds each site's settings.

# What a site's table may say; anything else is refused with the key named.
SITE_KEYS = ("profile", "base_url", "rate", "host_concurrency")
_SCHEMES = ("http", "https")


@dataclass(frozen=True, slots=True)
class SiteEntry:
    name: str
    profile: str | None = None  # a built-in name or a TOML file; None: the site's name
    base_url: str | None = None  # None: the profile's
    rate: float | None = None  # requests/s on this site's hosts; None: the global rate
    host_concurrency: int | None = None

    @property
    def profile_ref(self) -> str:
        return self.profile or self.name

    def __str__(self) -> str:  # how `vksnd config` shows it
        extra = [
            f"{key}={value}"
            for key in SITE_KEYS
            if (value := getattr(self, key)) is not None and key != "profile"
        ]
        if self.profile is not None:
            extra.insert(0, f"profile={self.profile}")
        return self.name + (f"({' '.join(extra)})" if extra else "")


def site_name(profile: SiteProfile) -> str:
    """The site a profile crawls, as rows name it: the profile's name, made a site name."""
    name = re.sub(r"[^a-z0-9_-]+", "-", profile.name.lower()).strip("-_")[:64] or "site"
    return name if SITE_NAME_RE.match(name) else f"site-{name}"[:64]


def to_sites(value: object) -> tuple[SiteEntry, ...]:
    """The setting's converter: a comma/space-separated string, a list of names (or of tables
    with a ``name``), or a table of tables by name. Raises ``ValueError`` naming the problem."""
    if isinstance(value, tuple) and all(isinstance(v, SiteEntry) for v in value):
        return value
    if isinstance(value, str):
        entries = [SiteEntry(_name(part)) for part in value.replace(",", " ").split()]
    elif isinstance(value, list):
        entries = [_entry_of_item(item) for item in value]
    elif isinstance(value, Mapping):
        entries = [_entry(str(name), table) for name, table in value.items()]
    else:
        raise ValueError("expected a list of site names or a table per site")
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise ValueError(f"site {entry.name!r} is listed twice")
        seen.add(entry.name)
        try:  # a bad profile is a bad setting, said before anything starts
            load_profile(entry.profile_ref)
        except ProfileError as exc:
            raise ValueError(f"sites.{entry.name}: {exc}") from None
    return tuple(entries)


def _name(text: str) -> str:
    try:
        return check_site_name(text.strip())
    except SiteNameError as exc:
        raise ValueError(str(exc)) from None


def _entry_of_item(item: object) -> SiteEntry:
    if isinstance(item, str):
        return SiteEntry(_name(item))
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        rest = {k: v for k, v in item.items() if k != "name"}
        return _entry(str(item["name"]), rest)
    raise ValueError(f"expected a site name or a table with a name, got {item!r}")


def _entry(name: str, table: object) -> SiteEntry:
    name = _name(name)
    if not isinstance(table, Mapping):
        raise ValueError(f"sites.{name}: expected a table")
    unknown = sorted(set(table) - set(SITE_KEYS))
    if unknown:
        raise ValueError(f"sites.{name}.{unknown[0]}: unknown key (known: {', '.join(SITE_KEYS)})")
    profile = table.get("profile")
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise ValueError(f"sites.{name}.profile: expected a profile name or file")
    base_url = table.get("base_url")
    if base_url is not None:
        parts = urlsplit(str(base_url))
        if (
            not isinstance(base_url, str)
            or parts.scheme not in ("http", "https")
            or not parts.netloc
        ):
            raise ValueError(f"sites.{name}.base_url: expected an http(s) origin")
        base_url = base_url.rstrip("/")
    rate = table.get("rate")
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0
    ):
        raise ValueError(f"sites.{name}.rate: expected a positive number")
    concurrency = table.get("host_concurrency")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency <= 0
    ):
        raise ValueError(f"sites.{name}.host_concurrency: expected a positive integer")
    return SiteEntry(
        name,
        profile=profile.strip() if isinstance(profile, str) else None,
        base_url=base_url,
        rate=float(rate) if rate is not None else None,
        host_concurrency=concurrency,
    )


@dataclass(frozen=True, slots=True)
class FetchConfig:
    user_agent: str = setting_from(default_user_agent, _to_str, "User-Agent header")
    connect_timeout: float = setting(DEFAULT_CONNECT_TIMEOUT, _positive(float), "seconds")
    read_timeout: float = setting(DEFAULT_READ_TIMEOUT, _positive(float), "seconds")
    pool_timeout: float = setting(DEFAULT_POOL_TIMEOUT, _positive(float), "seconds")
    total_timeout: float = setting(
        DEFAULT_TOTAL_TIMEOUT, _positive(float), "seconds per attempt, all of the body"
    )
    max_body_bytes: int = setting(DEFAULT_MAX_BODY_BYTES, _positive(int), "decompressed body cap")
    max_redirects: int = setting(DEFAULT_MAX_REDIRECTS, _positive(int), "hops per fetch")
    global_concurrency: int = setting(
        DEFAULT_GLOBAL_CONCURRENCY, _positive(int), "requests in flight, all hosts together"
    )
    robots_max_bytes: int = setting(
        DEFAULT_ROBOTS_MAX_BYTES, _positive(int), "robots.txt read up to this"
    )
    keepalive_expiry: float = setting(
        DEFAULT_KEEPALIVE_EXPIRY, _non_negative_float, "seconds an idle connection is kept"
    )


@dataclass(frozen=True, slots=True)
class PolitenessConfig:
    rate: float = setting(DEFAULT_RATE, _positive(float), "requests/s per host")
    host_concurrency: int = setting(
        DEFAULT_HOST_CONCURRENCY, _positive(int), "requests in flight per host"
    )
    obey_robots: bool = setting(DEFAULT_OBEY_ROBOTS, _to_bool, "obey robots.txt")
    robots_ttl: float = setting(DEFAULT_ROBOTS_TTL, _positive(float), "seconds")
    robots_error_ttl: float = setting(DEFAULT_ROBOTS_ERROR_TTL, _positive(float), "seconds")
    slowdown_seconds: float = setting(DEFAULT_SLOWDOWN_SECONDS, _non_negative_float, "seconds")
    slowdown_factor: float = setting(DEFAULT_SLOWDOWN_FACTOR, _positive(float), ">= 1")
    max_crawl_delay: float = setting(
        DEFAULT_MAX_CRAWL_DELAY, _non_negative_float, "cap on robots.txt Crawl-delay, seconds"
    )


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries within one fetch (the frontier's backoff for failed URLs is ``CrawlConfig``'s)."""

    attempts: int = setting(
        DEFAULT_RETRY_ATTEMPTS, _positive(int), "attempts per fetch", key="retry_attempts"
    )
    max_delay: float = setting(
        DEFAULT_RETRY_MAX_DELAY, _positive(float), "seconds per fetch", key="retry_max_delay"
    )
    initial: float = setting(
        DEFAULT_RETRY_INITIAL, _non_negative_float, "first backoff, seconds", key="retry_initial"
    )
    max_wait: float = setting(
        DEFAULT_RETRY_MAX_WAIT,
        _non_negative_float,
        "longest backoff, seconds",
        key="retry_max_wait",
    )
    jitter: float = setting(
        DEFAULT_RETRY_JITTER, _non_negative_float, "seconds", key="retry_jitter"
    )
    retry_after_cap: float = setting(DEFAULT_RETRY_AFTER_CAP, _non_negative_float, "seconds")


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    recheck_days: int = setting(DEFAULT_RECHECK_DAYS, _positive(int), "re-check recent articles")
    revalidate_days: float = setting(
        DEFAULT_REVALIDATE_DAYS,
        _positive(float),
        "every older article re-checked at least once in this many days, spread over passes",
    )
    interval_minutes: float = setting(
        DEFAULT_INTERVAL_MINUTES, _duration("m"), "daemon interval, minutes (or 2h, 45s)"
    )
    interval_jitter: float = setting(
        DEFAULT_INTERVAL_JITTER, _duration("s", zero=True), "seconds (or 2m)"
    )
    retry_pass_minutes: float = setting(
        DEFAULT_RETRY_PASS_MINUTES, _duration("m"), "minutes (or 1h)"
    )
    listing_url_template: str = setting(
        PROFILE.listing_url_template, _to_template, "{cat} {slug} {section} {page}"
    )
    categories: tuple[int, ...] = setting(PROFILE.category_keys, _to_categories, "category ids")
    export_dir: Path | None = setting(None, _to_opt_path, "export directory")
    due_limit: int = setting(DEFAULT_DUE_LIMIT, _positive(int), "due URLs taken per pass")
    listing_max_pages: int = setting(
        DEFAULT_LISTING_MAX_PAGES, _positive(int), "listing pages walked per category, at most"
    )
    failed_url_backoff_minutes: float = setting(
        DEFAULT_FAILED_URL_BACKOFF_MINUTES, _positive(float), "first wait before a failed URL"
    )
    failed_url_backoff_max_minutes: float = setting(
        DEFAULT_FAILED_URL_BACKOFF_MAX_MINUTES, _positive(float), "longest such wait"
    )
    skipped_retry_days: float = setting(
        DEFAULT_SKIPPED_RETRY_DAYS,
        _positive(float),
        "skipped URLs (too large, redirect, not HTML, robots, parse) tried again after this",
    )
    parse_executor: ExecutorKind = setting(
        DEFAULT_PARSE_EXECUTOR, _choice("thread", "process"), "where pages are parsed"
    )
    parse_workers: int = setting(DEFAULT_PARSE_WORKERS, _positive(int), "parse executor size")
    parse_batch: int = setting(DEFAULT_PARSE_BATCH, _positive(int), "pages per parse call")
    store_batch: int = setting(DEFAULT_STORE_BATCH, _positive(int), "articles per transaction")


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """The store's knobs; their defaults are the engine's (``StoreConfig``), and
    ``vksnd.crawler.crawl.storage_engine`` hands them over."""

    archive_pages: bool = setting(_STORE.archive, _to_bool, "keep raw pages (for reparse)")
    archive_compression_level: int = setting(
        _STORE.compression_level, _int_between(0, 9), "0: stored as fetched"
    )
    db_busy_timeout_ms: int = setting(
        _STORE.busy_timeout_ms, _positive(int), "wait for another writer's lock, ms"
    )
    db_checkpoint_every: int = setting(
        _STORE.checkpoint_every, _int_between(0, 10**9), "articles between WAL checkpoints"
    )


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    http_stats_ttl: float = setting(
        DEFAULT_HTTP_STATS_TTL, _non_negative_float, "seconds /healthz and /metrics reuse a read"
    )
    http_max_reads: int = setting(DEFAULT_HTTP_MAX_READS, _positive(int), "reads at once")
    health_max_failures: int = setting(
        DEFAULT_HEALTH_MAX_FAILURES,
        _positive(int),
        "pages one pass leaves failed or skipped before /healthz says degraded",
    )


@dataclass(frozen=True, slots=True)
class Settings:
    site_profile: SiteProfile = setting(
        DEFAULT_PROFILE, _to_profile, "site profile: built-in name or TOML file", key="profile"
    )
    base_url: str = setting(
        DEFAULT_BASE_URL, _to_base_url, "portal (or replica) origin (default: the profile's)"
    )
    db: Path = setting(DEFAULT_DB, _to_path, "SQLite database file")
    log_format: Literal["text", "json"] = setting(
        DEFAULT_LOG_FORMAT, _choice("text", "json"), "text or json"
    )
    log_level: LogLevel = setting(
        DEFAULT_LOG_LEVEL,
        _choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        "DEBUG: a line per page",
    )
    # host:port for /healthz, /metrics and the feed, off by default
    http_bind: str | None = setting(None, _to_opt_str, "host:port of the HTTP API")
    # Several sites into one database (``vksnd.crawler.sites``); empty: the profile's alone.
    sites: tuple[SiteEntry, ...] = setting(
        (), to_sites, "sites crawled together: profile names, or a [sites.NAME] table each"
    )
    fetch: FetchConfig = dataclasses.field(default_factory=FetchConfig)
    politeness: PolitenessConfig = dataclasses.field(default_factory=PolitenessConfig)
    retry: RetryConfig = dataclasses.field(default_factory=RetryConfig)
    crawl: CrawlConfig = dataclasses.field(default_factory=CrawlConfig)
    storage: StorageConfig = dataclasses.field(default_factory=StorageConfig)
    service: ServiceConfig = dataclasses.field(default_factory=ServiceConfig)

    @property
    def scope_hosts(self) -> frozenset[str]:
        return scope_for(self.base_url, self.profile)

    @property
    def profile(self) -> SiteProfile:
        """The configured site profile, with the configured listing template."""
        chosen = self.site_profile
        if self.crawl.listing_url_template == chosen.listing_url_template:
            return chosen
        return with_listing_template(chosen, self.crawl.listing_url_template)


def scope_for(base_url: str, profile: SiteProfile = PROFILE) -> frozenset[str]:
    key = host_key(base_url)
    if key is None:
        return frozenset()
    if key in profile.hosts:
        return frozenset(profile.hosts)
    return frozenset({key})


# --- the flat keys, derived from the fields -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    name: str  # flat key: TOML key, env suffix, argparse dest
    section: str  # the Settings field holding the section ("" = a field of Settings itself)
    field: str
    convert: Callable[[object], object]
    help: str


def _keys_of(holder: type[Any], section: str) -> list[Key]:
    keys: list[Key] = []
    for field in dataclasses.fields(holder):
        declared = field.metadata.get(_SETTING)
        if isinstance(declared, _Declared):
            name = declared.key or field.name
            keys.append(Key(name, section, field.name, declared.convert, declared.help))
        elif section == "" and dataclasses.is_dataclass(field.default_factory):
            keys.extend(_keys_of(field.default_factory, field.name))
        else:
            raise TypeError(f"{holder.__name__}.{field.name} is neither a setting nor a section")
    return keys


KEYS: tuple[Key, ...] = tuple(_keys_of(Settings, ""))
SECTIONS: dict[str, type[Any]] = {
    field.name: field.default_factory  # type: ignore[misc]
    for field in dataclasses.fields(Settings)
    if _SETTING not in field.metadata
}
# Not a settings field: only used to build the default User-Agent.
CONTACT_URL_KEY = "contact_url"
KEY_NAMES = frozenset(k.name for k in KEYS) | {CONTACT_URL_KEY}
# Keys that were renamed: an old name in a file or the environment is refused, not ignored.
RENAMED_KEYS = {"concurrency": "host_concurrency"}
# Other names of a setting: the flag's own (``--interval`` sets interval_minutes), so
# ``VKSND_INTERVAL=2h`` and ``interval = "2h"`` work as ``--interval 2h`` does.
ALIASES = {
    "interval": "interval_minutes",
    "jitter": "interval_jitter",
    "retry_interval": "retry_pass_minutes",
}
ENV_PREFIX = "VKSND_"
# VKSND_* variables that are not settings (read by the benchmarks, not by vksnd).
ENV_NOT_SETTINGS = frozenset({"VKSND_EXTRACTION_BENCH"})


@dataclass(frozen=True, slots=True)
class SettingValue:
    key: str
    value: object
    source: str  # "flag", "env VKSND_X", "file PATH", "default"


@dataclass(frozen=True, slots=True)
class ResolvedSettings:
    settings: Settings
    values: tuple[SettingValue, ...]
    config_path: Path | None


def _refuse_renamed(name: str, value: object, source: str) -> None:
    new = RENAMED_KEYS.get(name)
    if new is not None:
        raise ConfigError(name, value, source, f"renamed to {new} ({ENV_PREFIX}{new.upper()})")


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError("config", str(path), "file", f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), "file", f"invalid TOML: {exc}") from exc
    # Allow either flat keys or everything under a [vksnd] table.
    table = data.get("vksnd", data)
    if not isinstance(table, dict):
        raise ConfigError("vksnd", table, f"file {path}", "expected a table")
    unknown = sorted(set(table) - KEY_NAMES - set(ALIASES))
    for name in unknown:
        _refuse_renamed(name, table[name], f"file {path}")
    if unknown:
        name = unknown[0]
        raise ConfigError(name, table[name], f"file {path}", _unknown(name, ""))
    return dict(table)


def _unknown(name: str, prefix: str) -> str:
    """ "unknown setting", and the nearest known name when one is close."""
    bare = name.removeprefix(prefix).lower()
    close = difflib.get_close_matches(bare, (*KEY_NAMES, *ALIASES), n=1, cutoff=0.75)
    suggestion = (prefix + close[0].upper() if prefix else close[0]) if close else None
    return "unknown setting" + (f" (did you mean {suggestion}?)" if suggestion else "")


def _refuse_unknown_env(env: Mapping[str, str]) -> None:
    """A misspelled ``VKSND_*`` variable is an error, like an unknown key in the file: a
    silently ignored VKSND_RAET=0.5 would crawl at the default rate."""
    known = {ENV_PREFIX + name.upper() for name in (*KEY_NAMES, *ALIASES, *RENAMED_KEYS)}
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known and name not in ENV_NOT_SETTINGS:
            raise ConfigError(name, env[name], f"env {name}", _unknown(name, ENV_PREFIX))


def resolve_settings(
    cli: Mapping[str, object], env: Mapping[str, str], config_path: Path | None
) -> ResolvedSettings:
    """Merge the four layers. ``cli`` may hold unrelated keys and ``None`` for flags not given."""
    path = config_path
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    file_values = _read_toml(path) if path is not None else {}
    for old in RENAMED_KEYS:
        if env.get(ENV_PREFIX + old.upper(), "") != "":
            _refuse_renamed(old, env[ENV_PREFIX + old.upper()], f"env {ENV_PREFIX}{old.upper()}")
    _refuse_unknown_env(env)
    other_names = {key: alias for alias, key in ALIASES.items()}

    def pick(name: str) -> tuple[object, str] | None:
        if cli.get(name) is not None:
            return cli[name], "flag"
        names = (name, other_names[name]) if name in other_names else (name,)
        for each in names:
            env_name = ENV_PREFIX + each.upper()
            if env.get(env_name, "") != "":
                return env[env_name], f"env {env_name}"
        for each in names:
            if each in file_values:
                return file_values[each], f"file {path}"
        return None

    chosen: dict[str, dict[str, object]] = {section: {} for section in ("", *SECTIONS)}
    values: list[SettingValue] = []
    contact = pick(CONTACT_URL_KEY)
    contact_url = DEFAULT_CONTACT_URL
    if contact is not None:
        try:
            contact_url = str(_to_str(contact[0]))
        except ValueError as exc:
            raise ConfigError(CONTACT_URL_KEY, contact[0], contact[1], str(exc)) from exc
    values.append(SettingValue(CONTACT_URL_KEY, contact_url, contact[1] if contact else "default"))
    for key in KEYS:
        found = pick(key.name)
        if found is None:
            if key.name == "user_agent" and contact is not None:
                chosen["fetch"]["user_agent"] = default_user_agent(contact_url)
                values.append(SettingValue(key.name, chosen["fetch"]["user_agent"], contact[1]))
            continue
        raw, source = found
        try:
            converted = key.convert(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(key.name, raw, source, str(exc)) from exc
        chosen[key.section][key.field] = converted
        values.append(SettingValue(key.name, converted, source))

    _fit_profile(chosen, values)
    sections = {name: holder(**chosen[name]) for name, holder in SECTIONS.items()}
    settings = Settings(**chosen[""], **sections)  # type: ignore[arg-type]
    given = {v.key for v in values}
    values.extend(
        SettingValue(key.name, current_value(settings, key.name), "default")
        for key in KEYS
        if key.name not in given
    )
    order = {k.name: i for i, k in enumerate(KEYS)}
    values.sort(key=lambda v: order.get(v.key, -1))
    return ResolvedSettings(settings, tuple(values), path)


def _fit_profile(chosen: dict[str, dict[str, object]], values: list[SettingValue]) -> None:
    """The settings a profile decides (base URL, listing template, categories) default to the
    chosen profile's; categories given by slug become their keys, and one the profile does not
    know is refused (a crawl of a category without a slug would find nothing, silently)."""
    profile = chosen[""].get("site_profile", DEFAULT_PROFILE)
    if not isinstance(profile, SiteProfile):
        raise TypeError(f"site_profile is {type(profile).__name__}")
    source = {v.key: v.source for v in values}
    chosen[""].setdefault("base_url", profile.base_url)
    template = chosen["crawl"].setdefault("listing_url_template", profile.listing_url_template)
    try:
        with_listing_template(profile, str(template))
    except ProfileError as exc:
        key = "listing_url_template"
        raise ConfigError(key, template, source.get(key, "default"), exc.problem) from None
    if not profile.categories:
        raise ConfigError(
            "profile",
            str(profile),
            source.get("profile", "default"),
            "listing.categories is empty: nothing to crawl",
        )
    wanted = chosen["crawl"].get("categories")
    if wanted is None:
        chosen["crawl"]["categories"] = profile.category_keys
        return
    if not isinstance(wanted, tuple):
        raise TypeError(f"categories is {type(wanted).__name__}")
    keys: list[int] = []
    for item in wanted:
        found = (
            profile.category_by_slug(item)
            if isinstance(item, str)
            else next((c for c in profile.categories if c.key == item), None)
        )
        if found is None:
            known = ", ".join(f"{c.key} ({c.slug})" for c in profile.categories) or "none"
            raise ConfigError(
                "categories",
                item,
                source.get("categories", "default"),
                f"profile {profile.name!r} has no such category; it has: {known}",
            )
        keys.append(found.key)
    chosen["crawl"]["categories"] = tuple(keys)
    for index, value in enumerate(values):
        if value.key == "categories":
            values[index] = SettingValue("categories", tuple(keys), value.source)


def load_settings(
    cli: Mapping[str, object], env: Mapping[str, str], config_path: Path | None
) -> Settings:
    return resolve_settings(cli, env, config_path).settings


def settings_from_args(args: argparse.Namespace) -> Settings:
    """What a command calls: its parsed flags, the process environment, ``--config``."""
    return load_settings(vars(args), os.environ, getattr(args, "config", None))


def current_value(settings: Settings, name: str) -> object:
    for key in KEYS:
        if key.name == name:
            holder: object = settings if key.section == "" else getattr(settings, key.section)
            return getattr(holder, key.field)
    raise KeyError(name)
