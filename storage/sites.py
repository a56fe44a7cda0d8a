"""Which site a stored row belongs to: one store holds several sites (``sites = [...]``).

A row's site follows from its URL's host: every site crawls its own hosts (its profile's scope),
and URLs are canonicalized to one host per site before they are stored, so ``host -> site`` is a
function. The store is given that map when it opens (``SiteMap``); a host the map does not name
belongs to the default site, ``vksndtc``, which is also what the migration that added the
``site`` columns wrote into the rows of older databases.

Article keys (a site's article number) are only unique within a site: two sites both have an
article 123. The store looks chains up by ``(site, article_key)``; ``qualified_key`` is that pair
as the one string the version planner compares.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_SITE = "vksndtc"
SITE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEY_SEPARATOR = ":"  # never in a site name


class SiteNameError(ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"site name {name!r}: expected lowercase letters, digits, '-' or '_' (at most 64)"
        )


def check_site_name(name: str) -> str:
    if not SITE_NAME_RE.match(name):
        raise SiteNameError(name)
    return name


@dataclass(frozen=True, slots=True)
class SiteMap:
    """``host`` or ``host:port`` (default ports dropped, as the crawler's scope keys are) ->
    site name."""

    hosts: tuple[tuple[str, str], ...] = ()
    default: str = DEFAULT_SITE
    _by_host: dict[str, str] = field(init=False, repr=False, compare=False)
    # site by a plain URL's ``scheme://netloc`` (``_origin``): what ``site_of`` answers for
    # every URL of one origin, so ``urlsplit`` runs once per origin, not per stored row
    _by_origin: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_site_name(self.default)
        seen: dict[str, str] = {}
        for host, site in self.hosts:
            check_site_name(site)
            if seen.setdefault(host, site) != site:
                raise ValueError(f"host {host} belongs to two sites: {seen[host]} and {site}")
        object.__setattr__(self, "_by_host", seen)
        object.__setattr__(self, "_by_origin", {})

    @classmethod
    def of(cls, sites: Mapping[str, frozenset[str]], default: str = DEFAULT_SITE) -> SiteMap:
        """From each site's hosts (``{"vksndtc": {"vksndtc.gov.vn", ...}, ...}``)."""
        pairs = tuple(sorted((host, site) for site, hosts in sites.items() for host in hosts))
        return cls(pairs, default)

    def site_of(self, url: str) -> str:
        origin = _origin(url)
        if origin is None:
            return self._site_of(url)
        site = self._by_origin.get(origin)
        if site is None:
            site = self._site_of(url)
            if len(self._by_origin) >= _MAX_ORIGINS:
                self._by_origin.clear()  # a crawl meets a handful of origins; bound it anyway
            self._by_origin[origin] = site
        return site

    def _site_of(self, url: str) -> str:
        host = host_key(url)
        return self.default if host is None else self._by_host.get(host, self.default)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({self.default, *(site for _, site in self.hosts)}))


_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_ORIGINS = 1_024
_PLAIN_SCHEMES = ("https://", "http://")
_URL_UNSAFE = ("\t", "\r", "\n")  # urlsplit deletes them anywhere in a URL


def _origin(url: str) -> str | None:
    """``scheme://netloc`` of a plain ``http(s)`` URL, the part ``host_key`` reads; None for
    any other (``site_of`` then asks ``host_key``). Plain: lowercase scheme first (urlsplit
    strips leading blanks), no tab or newline anywhere (urlsplit deletes them)."""
    if not url.startswith(_PLAIN_SCHEMES) or any(c in url for c in _URL_UNSAFE):
        return None
    start = url.index("//") + 2
    end = len(url)
    for stop in "/?#":
        at = url.find(stop, start)
        if at != -1 and at < end:
            end = at
    return url[:end]


def host_key(url: str) -> str | None:
    """``host`` or ``host:port`` of ``url``, lowercased; None when it has no host."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"


def qualified_key(site: str, key: str | None) -> str | None:
    """``site:key``, the identity of an article number across sites (None stays None)."""
    return None if key is None else f"{site}{_KEY_SEPARATOR}{key}"


def split_key(qualified: str | None) -> tuple[str | None, str | None]:
    """(site, key) of a ``qualified_key``."""
    if qualified is None:
        return None, None
    site, _, key = qualified.partition(_KEY_SEPARATOR)
    return site, key
