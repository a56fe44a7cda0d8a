"""TOML → ``SiteProfile``, checked: every problem is one ``ProfileError`` naming its key.

A profile file is user input, so nothing in it is trusted: unknown keys (a typo would otherwise
be silently ignored), wrong types, regexes that do not compile, an article regex without its
``id`` group and template placeholders vksnd does not fill are all refused before a crawl starts.
Keys are documented in ``docs/PROFILES.md``.

This module reads files (the profile named on the command line, the built-ins shipped as package
data): it is the one place in ``parsers`` that does, and only when a command starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import string
import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.model import (
    DEFAULT_DROP_QUERY,
    DEFAULT_FIRST_PAGE,
    DEFAULT_TIME_ZONE,
    Category,
    DiscoverySources,
    LegacyForm,
    Selectors,
    SiteProfile,
    TextRules,
)

DEFAULT_PROFILE_NAME = "vksndtc"
BUILTIN_NAMES = ("vksndtc", "baovephapluat")
TEMPLATE_FIELDS = frozenset({"slug", "id", "cat", "section", "page"})
FEED_FIELDS = frozenset({"slug", "id", "cat", "section"})
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HOST_RE = re.compile(r"^[a-z0-9.-]+(?::\d+)?$")

T = TypeVar("T")

# The key tree: a table's value is its own dict; leaves are the expected kind.
_SCHEMA: dict[str, Any] = {
    "name": "str",
    "base_url": "str",
    "hosts": "strs",
    "time_zone": "str",
    "date_formats": "strs",
    "urls": {"article": "str", "drop_query": "strs", "legacy": "legacy"},
    "listing": {
        "template": "str",
        "categories": "categories",
        "page_param": "str",
        "first_page": "int",
        "item": "strs",
        "next": "strs",
    },
    "selectors": {
        "title": "strs",
        "date": "strs",
        "body": "strs",
        "author": "strs",
        "captions": "strs",
        "chrome": "strs",
    },
    "text": {"masthead": "strs", "chrome_phrases": "strs", "title_suffix": "str"},
    "discovery": {"sitemaps": "strs", "feeds": "strs", "sitemap_auto": "bool"},
}
_REQUIRED = ("name", "base_url", "urls.article", "listing.template")
_LEGACY_KEYS = frozenset({"path", "id_param", "keep", "category_param"})
_CATEGORY_KEYS = frozenset({"slug", "id", "name", "section"})


def builtin_names() -> tuple[str, ...]:
    return BUILTIN_NAMES


@cache
def builtin_profile(name: str) -> SiteProfile:
    """A profile shipped with vksnd (package data ``parsers/profiles/<name>.toml``)."""
    if name not in BUILTIN_NAMES:
        raise ProfileError(name, "", f"no built-in profile (built-in: {', '.join(BUILTIN_NAMES)})")
    text = resources.files("vksnd.parsers.profiles").joinpath(f"{name}.toml").read_text("utf-8")
    return parse_profile(text, f"builtin:{name}")


def load_profile(name_or_path: str | Path) -> SiteProfile:
    """A built-in profile by name, or a TOML file: a value with a ``/`` or ending in ``.toml``
    is a path, anything else a built-in name."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml"):
        return load_profile_file(Path(text))
    return builtin_profile(text)


def load_profile_file(path: Path) -> SiteProfile:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProfileError(str(path), "", "not UTF-8 text") from None
    return parse_profile(text, str(path))


def parse_profile(text: str, source: str) -> SiteProfile:
    """A profile from TOML text; ``source`` names it in errors (a path or ``builtin:NAME``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "", f"not valid TOML: {exc}") from None
    return _Reader(source).profile(data)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ProfileError:
        return ProfileError(self.source, key, problem)

    # --- shape -----------------------------------------------------------------------------

    def check_keys(self, data: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> None:
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if key not in schema:
                close = difflib.get_close_matches(key, list(schema), n=1)
                hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
                known = ", ".join(sorted(schema))
                raise self.fail(dotted, f"unknown key{hint}; known here: {known}")
            kind = schema[key]
            if isinstance(kind, dict):
                if not isinstance(value, dict):
                    raise self.fail(dotted, f"must be a table, got {_kind(value)}")
                self.check_keys(value, kind, dotted + ".")

    def get(self, data: Mapping[str, Any], dotted: str) -> Any:
        node: Any = data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def typed(self, data: Mapping[str, Any], dotted: str, kind: type[T], default: T) -> T:
        value = self.get(data, dotted)
        if value is None:
            return default
        if kind is int and isinstance(value, bool):
            raise self.fail(dotted, f"must be an integer, got {_kind(value)}")
        if not isinstance(value, kind):
            raise self.fail(dotted, f"must be {_article(kind)}, got {_kind(value)}")
        return value

    def string(self, data: Mapping[str, Any], dotted: str, default: str = "") -> str:
        value = self.typed(data, dotted, str, default)
        if dotted in _REQUIRED and not value.strip():
            raise self.fail(dotted, "is required")
        return value

    def strings(self, data: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
        value = self.get(data, dotted)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(dotted, f"must be a list of strings, got {_kind(value)}")
        for index, item in enumerate(value):
            if not item.strip():
                raise self.fail(f"{dotted}[{index}]", "is empty")
        return tuple(value)

    def regex(self, dotted: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
        try:
            return re.compile(pattern, flags)
        except re.error as exc:
            raise self.fail(dotted, f"regex does not compile: {exc}") from None

    def selectors(self, data: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
        found = self.strings(data, dotted)
        for index, selector in enumerate(found):
            if selector.count("[") != selector.count("]") or selector.count("(") != selector.count(
                ")"
            ):
                raise self.fail(f"{dotted}[{index}]", f"CSS selector is unbalanced: {selector!r}")
        return found

    # --- the profile -----------------------------------------------------------------------

    def profile(self, data: dict[str, Any]) -> SiteProfile:
        self.check_keys(data, _SCHEMA, "")
        for dotted in _REQUIRED:
            if self.get(data, dotted) is None:
                raise self.fail(dotted, "is required")
        name = self.string(data, "name")
        if not _NAME_RE.match(name):
            raise self.fail("name", f"must be lowercase letters, digits, - or _: {name!r}")
        base_url = self.string(data, "base_url").rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.fail("base_url", f"must be an http(s) URL, got {base_url!r}")
        preferred = parts.netloc.lower()
        hosts = {preferred}
        for index, host in enumerate(self.strings(data, "hosts")):
            if not _HOST_RE.match(host.lower()):
                raise self.fail(f"hosts[{index}]", f"not a host name: {host!r}")
            hosts.add(host.lower())

        article = self.regex("urls.article", self.string(data, "urls.article"))
        if "id" not in article.groupindex:
            raise self.fail("urls.article", "regex needs a named group 'id': (?P<id>[0-9]+)")

        categories = self.categories(data.get("listing", {}).get("categories"))
        template = self.string(data, "listing.template")
        page_param = self.template(template, categories)
        page_param = self.string(data, "listing.page_param", page_param or "") or None
        first_page = self.typed(data, "listing.first_page", int, DEFAULT_FIRST_PAGE)
        if first_page < 0:
            raise self.fail("listing.first_page", f"must be 0 or more, got {first_page}")

        time_zone = self.string(data, "time_zone", DEFAULT_TIME_ZONE)
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail("time_zone", f"unknown time zone {time_zone!r}") from None
        date_formats = self.strings(data, "date_formats")
        for index, fmt in enumerate(date_formats):
            if "%" not in fmt:
                raise self.fail(f"date_formats[{index}]", f"not a strptime format: {fmt!r}")

        suffix = self.string(data, "text.title_suffix")
        feeds = self.strings(data, "discovery.feeds")
        for index, feed in enumerate(feeds):
            self.placeholders(f"discovery.feeds[{index}]", feed, FEED_FIELDS, categories)
        drop = {p.lower() for p in DEFAULT_DROP_QUERY}
        drop.update(p.lower() for p in self.strings(data, "urls.drop_query"))
        return SiteProfile(
            name=name,
            base_url=base_url,
            hosts=frozenset(hosts),
            preferred_host=preferred,
            article_path=article,
            listing_url_template=template,
            categories=categories,
            legacy=self.legacy(self.get(data, "urls.legacy")),
            listing_page_param=page_param,
            first_page=first_page,
            drop_query_params=frozenset(drop),
            selectors=Selectors(
                title=self.selectors(data, "selectors.title"),
                date=self.selectors(data, "selectors.date"),
                body=self.selectors(data, "selectors.body"),
                author=self.selectors(data, "selectors.author"),
                captions=self.selectors(data, "selectors.captions"),
                chrome=self.selectors(data, "selectors.chrome"),
                listing_item=self.selectors(data, "listing.item"),
                listing_next=self.selectors(data, "listing.next"),
            ),
            date_formats=date_formats,
            time_zone=time_zone,
            text=TextRules(
                masthead=self.strings(data, "text.masthead"),
                chrome_phrases=self.strings(data, "text.chrome_phrases"),
                title_suffix=(
                    self.regex("text.title_suffix", suffix, re.IGNORECASE) if suffix else None
                ),
            ),
            discovery=DiscoverySources(
                sitemaps=self.strings(data, "discovery.sitemaps"),
                feeds=feeds,
                sitemap_auto=self.typed(data, "discovery.sitemap_auto", bool, True),
            ),
            source=self.source,
        )

    def placeholders(
        self, dotted: str, template: str, allowed: frozenset[str], categories: tuple[Category, ...]
    ) -> set[str]:
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise self.fail(dotted, f"bad template {template!r}: {exc}") from None
        for placeholder in sorted(names):
            if placeholder not in allowed:
                shown = " ".join(f"{{{a}}}" for a in sorted(allowed))
                raise self.fail(dotted, f"unknown placeholder {{{placeholder}}}; known: {shown}")
        if names & {"id", "cat"}:
            for category in categories:
                if category.id is None:
                    raise self.fail(
                        dotted,
                        f"uses {{id}} but category {category.slug!r} has no id"
                        " (write it as { slug = …, id = … })",
                    )
        return names

    def template(self, template: str, categories: tuple[Category, ...]) -> str | None:
        """Checks the listing template; returns the query parameter its ``{page}`` fills."""
        names = self.placeholders("listing.template", template, TEMPLATE_FIELDS, categories)
        if "page" not in names:
            raise self.fail("listing.template", "needs {page} (the listing page number)")
        if not names & {"slug", "id", "cat"} and len(categories) > 1:
            raise self.fail("listing.template", "needs {slug} or {id} to tell the categories apart")
        query = urlsplit(template).query
        for key, value in parse_qsl(query, keep_blank_values=True):
            if value == "{page}":
                return key
        return None

    def categories(self, raw: Any) -> tuple[Category, ...]:
        dotted = "listing.categories"
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail(dotted, f"must be a list of slugs or tables, got {_kind(raw)}")
        found: list[Category] = []
        for index, item in enumerate(raw):
            where = f"{dotted}[{index}]"
            if isinstance(item, str):
                item = {"slug": item}
            if not isinstance(item, dict):
                raise self.fail(where, f"must be a slug or a table, got {_kind(item)}")
            for key in item:
                if key not in _CATEGORY_KEYS:
                    raise self.fail(f"{where}.{key}", "unknown key; known: id, name, section, slug")
            slug = item.get("slug")
            if not isinstance(slug, str) or not slug.strip():
                raise self.fail(f"{where}.slug", "is required (a non-empty string)")
            cat_id = item.get("id")
            if cat_id is not None and (isinstance(cat_id, bool) or not isinstance(cat_id, int)):
                raise self.fail(f"{where}.id", f"must be an integer, got {_kind(cat_id)}")
            for key in ("name", "section"):
                if key in item and not isinstance(item[key], str):
                    raise self.fail(f"{where}.{key}", f"must be a string, got {_kind(item[key])}")
            key_number = cat_id if cat_id is not None else index + 1
            for other in found:
                if other.slug == slug:
                    raise self.fail(f"{where}.slug", f"{slug!r} is listed twice")
                if other.key == key_number:
                    raise self.fail(
                        where, f"category number {key_number} is used twice (give each an id)"
                    )
            found.append(
                Category(
                    slug=slug,
                    key=key_number,
                    id=cat_id,
                    name=item.get("name"),
                    section=item.get("section"),
                )
            )
        return tuple(found)

    def legacy(self, raw: Any) -> tuple[LegacyForm, ...]:
        dotted = "urls.legacy"
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail(dotted, f"must be an array of tables, got {_kind(raw)}")
        forms: list[LegacyForm] = []
        for index, item in enumerate(raw):
            where = f"{dotted}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(where, f"must be a table, got {_kind(item)}")
            for key in item:
                if key not in _LEGACY_KEYS:
                    known = ", ".join(sorted(_LEGACY_KEYS))
                    raise self.fail(f"{where}.{key}", f"unknown key; known: {known}")
            path = item.get("path")
            id_param = item.get("id_param")
            if not isinstance(path, str) or not path:
                raise self.fail(f"{where}.path", "is required (a regex on the URL path)")
            if not isinstance(id_param, str) or not id_param:
                raise self.fail(f"{where}.id_param", "is required (the article id's parameter)")
            keep: tuple[str, ...] = (id_param,)
            if "keep" in item:
                keep = self._strings_at(f"{where}.keep", item["keep"])
            category_param = item.get("category_param")
            if category_param is not None and not isinstance(category_param, str):
                raise self.fail(f"{where}.category_param", "must be a string")
            forms.append(
                LegacyForm(
                    path=self.regex(f"{where}.path", path, re.IGNORECASE),
                    id_param=id_param,
                    keep=keep,
                    category_param=category_param,
                )
            )
        return tuple(forms)

    def _strings_at(self, dotted: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(dotted, f"must be a list of strings, got {_kind(value)}")
        return tuple(value)


def _kind(value: object) -> str:
    names: dict[type, str] = {
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


def _article(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean"}.get(kind, kind.__name__)


def with_listing_template(profile: SiteProfile, template: str) -> SiteProfile:
    """``profile`` with another listing template (the ``listing_url_template`` setting),
    checked as the profile's own would be; ``ProfileError`` naming ``listing.template``."""
    if template == profile.listing_url_template:
        return profile
    page_param = _Reader(profile.source).template(template, profile.categories)
    return dataclasses.replace(
        profile, listing_url_template=template, listing_page_param=page_param
    )


def resolve_profile(value: str | None) -> SiteProfile:
    """The profile a command runs with: ``value`` (flag, env or vksnd.toml) or the default."""
    return load_profile(value or DEFAULT_PROFILE_NAME)
