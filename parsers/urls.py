"""URL canonicalization and classification for the portal: pure string work, no I/O.

Every URL is canonicalized before it is stored or fetched, so the frontier has one key per page:
the same article is reachable with or without ``www.``, over http, with a page-number navigation
leftover, through tracking parameters, or a legacy address (the profile's ``urls.legacy`` forms).
Canonicalization cannot turn a legacy URL into the article URL (the slug is unknown), so
``article_key`` exposes the shared id (the article regex's ``id`` group, or the legacy form's id
parameter) and content-hash dedupe in storage does the rest.

Scope is a set of ``host`` or ``host:port`` keys (``host_key``). Host aliases are mapped to the
profile's preferred host and https is forced only when the scope is the real portal; against the
replica (``127.0.0.1:PORT``) the URL keeps its scheme and port.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

from vksnd.parsers.profiles.load import DEFAULT_PROFILE_NAME
from vksnd.parsers.profiles.model import Category, SiteProfile
from vksnd.parsers.profiles.vksndtc import PROFILE

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HEX = "0123456789ABCDEFabcdef"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = frozenset("!$'()*+,;=")  # '&' handled by the query splitter
_PATH_SAFE = _UNRESERVED | _SUB_DELIMS | frozenset(":@/&")
_QUERY_PART_SAFE = _UNRESERVED | frozenset("!$'()*+,;:@/?")  # no '&' or '=' inside a part
_TRACKING_PREFIXES = ("utm_",)
_MAX_URL_CHARS = 8192
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# ``text`` made only of the set's characters: a regex scan, cheaper than ``set.issuperset``.
_ONLY_SAFE = {
    safe: re.compile("[" + "".join(re.escape(c) for c in sorted(safe)) + "]*").fullmatch
    for safe in (_PATH_SAFE, _QUERY_PART_SAFE)
}


def _normalize_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, uppercase the rest, escape unsafe characters.

    Idempotent: the output holds only ``safe`` characters and ``%XX`` escapes of bytes that are
    not unreserved, which this function leaves as they are.
    """
    if "%" not in text:
        only_safe = _ONLY_SAFE.get(safe)
        if only_safe(text) if only_safe is not None else safe.issuperset(text):
            return text  # the common URL: nothing to decode or escape (one C pass, no loop)
    return _escape_each(text, safe)


def _escape_each(text: str, safe: frozenset[str]) -> str:
    """``_normalize_escapes`` the long way, character by character."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            byte = int(text[i + 1 : i + 3], 16)
            decoded = chr(byte)
            out.append(decoded if decoded in _UNRESERVED else f"%{byte:02X}")
            i += 3
            continue
        if char in safe and char != "%":
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


def _normalize_path(path: str) -> str:
    path = _normalize_escapes(path, _PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    if "//" not in path and "/." not in path:
        return path  # no empty, "." or ".." segment: already the fixpoint below
    return _dot_and_slash_fixpoint(path)


def _dot_and_slash_fixpoint(path: str) -> str:
    """Repeated slashes collapsed and dot segments removed, until neither changes the path."""
    for _ in range(8):  # collapsing and dot removal feed each other; reach the fixpoint
        previous = path
        path = re.sub(r"/{2,}", "/", path)
        path = _remove_dot_segments(path)
        if path == previous:
            break
    return path


def host_key(url: str) -> str | None:
    """``host`` or ``host:port`` (default ports dropped), lowercased; None if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    host = host.rstrip(".").lower()
    if not host or any(c.isspace() for c in host):
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{host}:{port}"
    return host


def in_scope(url: str, scope_hosts: frozenset[str]) -> bool:
    """Exact host[:port] match: IP literals and loopback pass only when listed themselves."""
    key = host_key(url)
    return key is not None and key in scope_hosts


def _is_portal_scope(scope_hosts: frozenset[str], profile: SiteProfile) -> bool:
    return profile.preferred_host in scope_hosts


def _split_query(query: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        name = _normalize_escapes(name, _QUERY_PART_SAFE)
        pairs.append((name, _normalize_escapes(value, _QUERY_PART_SAFE) if sep else None))
    return pairs


def _join_query(pairs: list[tuple[str, str | None]]) -> str:
    return "&".join(name if value is None else f"{name}={value}" for name, value in pairs)


def _keep_only(
    pairs: list[tuple[str, str | None]], names: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """The named parameters (first occurrence each), spelled as ``names`` spells them."""
    kept: list[tuple[str, str | None]] = []
    for wanted in names:
        for name, value in pairs:
            if name.lower() == wanted.lower():
                kept.append((wanted, value))
                break
    return kept


def _get(pairs: list[tuple[str, str | None]], wanted: str) -> str | None:
    for name, value in pairs:
        if name.lower() == wanted.lower():
            return value
    return None


def _is_page_param(name: str, profile: SiteProfile) -> bool:
    page = profile.listing_page_param
    return page is not None and name.lower() == page.lower()


def _is_tracking(name: str, profile: SiteProfile) -> bool:
    lowered = name.lower()
    if _is_page_param(name, profile):  # meaningful on listings; handled by the caller
        return False
    return lowered in profile.drop_query_params or lowered.startswith(_TRACKING_PREFIXES)


def canonicalize(
    url: str,
    *,
    base: str | None = None,
    scope_hosts: frozenset[str],
    profile: SiteProfile = PROFILE,
) -> str | None:
    """The canonical absolute URL, or None when not http(s), unparseable or out of scope."""
    try:
        return _canonicalize(url, base, scope_hosts, profile)
    except (ValueError, UnicodeError):
        return None


def _canonicalize(
    url: str, base: str | None, scope_hosts: frozenset[str], profile: SiteProfile
) -> str | None:
    url = url.strip()
    if not url or len(url) > _MAX_URL_CHARS or any(c in url for c in "\x00\r\n\t"):
        return None
    # urljoin re-parses absolute URLs too (and drops an empty ``;`` parameter): only join
    # references that need a base.
    absolute = urljoin(base, url) if base and not _SCHEME.match(url) else url
    parts = urlsplit(absolute)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    key = host_key(absolute)
    if key is None:
        return None
    portal = _is_portal_scope(scope_hosts, profile)
    if portal and key in profile.hosts:
        key = profile.preferred_host
        scheme = profile.scheme
    if key not in scope_hosts:
        return None
    path = _normalize_path(parts.path)
    pairs = _split_query(parts.query)

    legacy = profile.legacy_form(path)
    if legacy is not None and _get(pairs, legacy.id_param):
        pairs = _keep_only(pairs, legacy.keep)
    else:
        article = profile.article_path.match(path) is not None
        pairs = [
            (name, value)
            for name, value in pairs
            if not _is_tracking(name, profile) and not (article and _is_page_param(name, profile))
        ]
        pairs.sort(key=lambda p: (p[0], p[1] or ""))
    return urlunsplit((scheme, key, path, _join_query(pairs), ""))


# The path and query of an absolute http(s) URL as ``urlsplit`` reads them, without its cost
# (its cache holds 128 URLs; a crawl's URLs are new): an ASCII authority without brackets
# (which urlsplit checks and may refuse), path and query without spaces or controls (which it
# would strip), up to the fragment. Anything else goes through ``urlsplit``.
_PATH_QUERY_RE = re.compile(
    r"https?://([^/?#\s\x00-\x1f\[\]]+)(/[^?#\s\x00-\x1f]*)?(?:\?([^#\s\x00-\x1f]*))?(?:#|\Z)",
    re.IGNORECASE,
)


def _path_and_query(url: str) -> tuple[str, str]:
    match = _PATH_QUERY_RE.match(url)
    if match is not None and match.group(1).isascii():
        return match.group(2) or "", match.group(3) or ""
    parts = urlsplit(url)
    return parts.path, parts.query


def _split_article(url: str, profile: SiteProfile) -> tuple[str, list[tuple[str, str | None]]]:
    path, query = _path_and_query(url)
    return _normalize_path(path), _split_query(query)


def article_key(url: str, profile: SiteProfile = PROFILE) -> int | None:
    """The portal-wide article number: ``t{id}`` of new URLs, ``ItemID`` of legacy/print URLs."""
    try:
        path, pairs = _split_article(url, profile)
    except ValueError:
        return None
    match = profile.article_path.match(path)
    if match:
        return _id_number(match.group("id"))
    legacy = profile.legacy_form(path)
    if legacy is not None:
        item = _get(pairs, legacy.id_param)
        if item is not None:
            return _id_number(item)
    return None


def _id_number(text: str | None) -> int | None:
    if text is None or not text.isdigit() or len(text) > 12:
        return None
    return int(text)


def article_key_text(url: str, profile: SiteProfile = PROFILE) -> str | None:
    """The article's key as stored: ``"<id>"`` on the default site, ``"<site>:<id>"`` on any
    other, so two sites' article numbers never meet. ``None`` when the URL carries no id."""
    number = article_key(url, profile)
    if number is None:
        return None
    return format_article_key(number, profile)


def format_article_key(number: int, profile: SiteProfile) -> str:
    return str(number) if profile.name == DEFAULT_PROFILE_NAME else f"{profile.name}:{number}"


def is_article_url(url: str, profile: SiteProfile = PROFILE) -> bool:
    """By URL pattern (PORTAL.md), not by markup: new-style, legacy or print article URLs."""
    return article_key(url, profile) is not None


def listing_url(
    base: str, category: int | Category, page: int, profile: SiteProfile = PROFILE
) -> str:
    """Absolute URL of page ``page`` of a category's listing (``category``: the record or its
    ``key``). A key the profile does not list is a ``KeyError`` when the template needs a slug
    (never an empty slug); a template of ids alone takes it as the id.

    The template may use ``{id}`` (alias ``{cat}``), ``{page}``, and the category's ``{slug}``
    and ``{section}``. ``page`` counts from 1; a profile whose pages count from 0
    (``first_page = 0``) gets ``page - 1`` in the URL.
    """
    if isinstance(category, Category):
        found = category
    elif category in profile.category_keys or _needs_slug(profile.listing_url_template):
        found = profile.category_by_key(category)
    else:  # a template of ids alone (?Cat={id}) can name a category the profile does not list
        found = Category(slug="", key=category, id=category)
    cat_id = found.id if found.id is not None else found.key
    number = page - 1 + profile.first_page
    path = profile.listing_url_template.format(
        cat=cat_id, id=cat_id, page=number, slug=found.slug, section=found.section or ""
    )
    path = re.sub(r"/{2,}", "/", path)
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def _needs_slug(template: str) -> bool:
    return "{slug}" in template or "{section}" in template


def listing_page_number(url: str, profile: SiteProfile = PROFILE) -> int | None:
    """The page number of a listing URL: its page parameter (case-insensitive), or where the
    template's ``{page}`` stands in the path (``/{slug}/p/{page}``); None if it shows none."""
    if profile.listing_page_param is None:
        try:
            found = _listing_path_regex(profile.listing_url_template).match(urlsplit(url).path)
        except ValueError:
            return None
        value = found.group("page") if found else None
        return int(value) if value is not None and len(value) <= 9 else None
    try:
        value = _get(_split_query(urlsplit(url).query), profile.listing_page_param)
    except ValueError:
        return None
    return int(value) if value is not None and value.isdigit() and len(value) <= 9 else None


@functools.cache
def _listing_path_regex(template: str) -> re.Pattern[str]:
    """The path part of a listing template as a regex with a ``page`` group."""
    path = template.split("?", 1)[0]
    pieces: list[str] = []
    for piece in re.split(r"(\{[a-z]+\})", path):
        if piece == "{page}":
            pieces.append(r"(?P<page>[0-9]+)")
        elif piece in ("{slug}", "{section}"):
            pieces.append(r"[^?#]*?")
        elif piece in ("{id}", "{cat}"):
            pieces.append(r"[0-9]+")
        else:
            pieces.append(re.escape(piece))
    return re.compile("^" + "".join(pieces) + "/?$", re.IGNORECASE)
