"""A site profile as typed records: everything vksnd knows about one site, read from TOML.

How to get a profile (the public names, kept stable for the other packages):

- ``vksnd.parsers.profiles.load.load_profile(name_or_path)``: a built-in profile by name
  (``"vksndtc"``, ``"baovephapluat"``) or a TOML file by path; raises ``ProfileError``.
- ``vksnd.parsers.profiles.load.builtin_profile(name)`` / ``builtin_names()``: the shipped ones.
- ``vksnd.parsers.profiles.load.DEFAULT_PROFILE_NAME``: ``"vksndtc"``.
- ``vksnd.parsers.profiles.vksndtc.PROFILE``: the built-in default, loaded once at import.
- In the crawler, ``Settings.profile`` is the *configured* profile (``--profile``,
  ``VKSND_PROFILE``, ``profile = …`` in vksnd.toml), with ``Settings.scope_hosts`` built from it.

Records here are frozen: a profile is loaded once at the CLI and passed down explicitly (it
pickles, so it crosses to a parse worker process too). ``docs/PROFILES.md`` documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Asia/Ho_Chi_Minh"
DEFAULT_FIRST_PAGE = 1
# Query parameters no site needs to tell pages apart (tracking); a profile may add its own.
DEFAULT_DROP_QUERY = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "fbclid",
    "gclid",
)


@dataclass(frozen=True, slots=True)
class Selectors:
    """CSS selectors, tried in order; the first that matches wins. Empty: not known, so the
    generic path decides (the body extractor, selector-free listing discovery)."""

    title: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    chrome: tuple[str, ...] = ()  # removed from the body before extraction
    listing_item: tuple[str, ...] = ()
    listing_next: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the site's listings.

    ``key`` is the category's number inside vksnd (frontier scopes, ``--category``): its ``id``
    when the profile gives one, else its 1-based position in the profile's list.
    """

    slug: str
    key: int
    id: int | None = None
    name: str | None = None
    section: str | None = None


@dataclass(frozen=True, slots=True)
class LegacyForm:
    """Another URL form of an article page (an old CMS's address, a print view): a path regex and
    the query parameter carrying the article id. Canonical URLs keep only ``keep``'s parameters,
    spelled as listed; ``category_param`` names the parameter holding a category id."""

    path: re.Pattern[str]
    id_param: str
    keep: tuple[str, ...]
    category_param: str | None = None


@dataclass(frozen=True)
class TextRules:
    """Site chrome recognised by its words rather than its markup."""

    masthead: tuple[str, ...] = ()  # whole lines of the site's header (case-insensitive)
    chrome_phrases: tuple[str, ...] = ()  # whole lines of page tools, menus and the like
    title_suffix: re.Pattern[str] | None = None  # the site's name after a <title>

    @cached_property
    def _masthead_lower(self) -> frozenset[str]:
        return frozenset(_fold(line) for line in self.masthead)

    @cached_property
    def _chrome_lower(self) -> frozenset[str]:
        return frozenset(_fold(line) for line in self.chrome_phrases)

    @cached_property
    def _masthead_heads(self) -> frozenset[str]:
        return _heads(self._masthead_lower)

    @cached_property
    def _chrome_heads(self) -> frozenset[str]:
        return _heads(self._chrome_lower)

    def is_masthead(self, line: str) -> bool:
        return (
            bool(self.masthead)
            and _may_fold_to_one_of(line, self._masthead_heads)
            and _fold(line) in self._masthead_lower
        )

    def is_chrome_phrase(self, line: str) -> bool:
        return (
            bool(self.chrome_phrases)
            and _may_fold_to_one_of(line, self._chrome_heads)
            and _fold(line) in self._chrome_lower
        )


@dataclass(frozen=True, slots=True)
class DiscoverySources:
    """Where article links come from besides the category listings. ``feeds`` may hold
    ``{id}``/``{slug}`` (one feed per category); ``sitemaps`` empty with ``sitemap_auto``:
    look in robots.txt and at ``/sitemap.xml``."""

    sitemaps: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sitemap_auto: bool = True


@dataclass(frozen=True, repr=False)
class SiteProfile:
    """One site. ``hosts`` is the scope whitelist on the real site (``preferred_host`` and the
    aliases); ``article_path`` matches an article URL's path and has a named group ``id`` (and
    maybe ``category``); ``listing_url_template`` holds ``{slug}``, ``{id}`` (alias ``{cat}``),
    ``{section}`` and ``{page}``."""

    name: str
    base_url: str
    hosts: frozenset[str]
    preferred_host: str
    article_path: re.Pattern[str]
    listing_url_template: str
    categories: tuple[Category, ...] = ()
    legacy: tuple[LegacyForm, ...] = ()
    listing_page_param: str | None = None  # the query parameter the template's {page} fills
    first_page: int = DEFAULT_FIRST_PAGE
    drop_query_params: frozenset[str] = frozenset(DEFAULT_DROP_QUERY)
    selectors: Selectors = field(default_factory=Selectors)
    date_formats: tuple[str, ...] = ()  # strptime formats tried before the built-in forms
    time_zone: str = DEFAULT_TIME_ZONE
    text: TextRules = field(default_factory=TextRules)
    discovery: DiscoverySources = field(default_factory=DiscoverySources)
    source: str = ""  # "builtin:<name>" or the file it was read from

    def __repr__(self) -> str:
        return f"SiteProfile({self.name!r}, source={self.source!r})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        """A built-in profile crosses to a parse worker process as its name (a full pickle
        costs ~0.4 ms a page there); any other, changed or from a file, whole."""
        if self.source == f"builtin:{self.name}" and self is _builtin(self.name):
            return (_builtin, (self.name,))
        return (_rebuild, (SiteProfile, {f.name: getattr(self, f.name) for f in fields(self)}))

    def __str__(self) -> str:
        """What ``vksnd config`` shows: the built-in's name or the file's path."""
        return self.name if self.source in ("", f"builtin:{self.name}") else self.source

    @property
    def scheme(self) -> str:
        """The base URL's scheme: URLs on the site's own hosts are fetched with it."""
        return self.base_url.split(":", 1)[0]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def category_by_key(self, key: int) -> Category:
        """The category numbered ``key``; ``KeyError`` naming the profile when there is none
        (an unknown category never becomes an empty slug)."""
        for category in self.categories:
            if category.key == key:
                return category
        raise KeyError(f"profile {self.name!r} has no category {key}")

    def category_by_slug(self, slug: str) -> Category | None:
        for category in self.categories:
            if category.slug == slug:
                return category
        return None

    def category_by_id(self, cat_id: int) -> Category | None:
        for category in self.categories:
            if category.id == cat_id:
                return category
        return None

    @property
    def category_keys(self) -> tuple[int, ...]:
        return tuple(c.key for c in self.categories)

    def legacy_form(self, path: str) -> LegacyForm | None:
        """The legacy URL form whose path regex matches ``path``."""
        for form in self.legacy:
            if form.path.match(path):
                return form
        return None


def _builtin(name: str) -> SiteProfile:
    from vksnd.parsers.profiles.load import builtin_profile  # load imports this module

    return builtin_profile(name)


def _rebuild(kind: type[SiteProfile], values: dict[str, Any]) -> SiteProfile:
    return kind(**values)


def _fold(line: str) -> str:
    return " ".join(line.replace("’", "'").split()).casefold()


# A line's first characters, folded, must begin a key for the whole line to fold to one.
_PREFIX_CHARS = 16


def _heads(keys: frozenset[str]) -> frozenset[str]:
    """Every prefix of each folded key ("" included)."""
    return frozenset(key[:n] for key in keys for n in range(len(key) + 1))


def _may_fold_to_one_of(line: str, heads: frozenset[str]) -> bool:
    """False when ``_fold(line)`` cannot be a key whose prefixes are ``heads``, told from the
    line's first characters without folding the whole line (most lines are body paragraphs).

    ``_fold`` of a prefix of ``line`` is a prefix of ``_fold(line)``: the replacement and
    casefolding map each character on its own, and the words of a prefix are the line's first
    words (the last maybe cut), joined by one space, with no trailing space."""
    return len(line) <= _PREFIX_CHARS or _fold(line[:_PREFIX_CHARS]) in heads
