"""The ``sites`` setting: several sites crawled together into one database.

Three spellings, one meaning (a tuple of ``SiteEntry``):

    sites = ["vksndtc", "baovephapluat"]             # TOML: profile names (or files)
    VKSND_SITES=vksndtc,baovephapluat                 # environment, or --sites on a command

    [sites.vksndtc]                                   # TOML: a table per site, in crawl order,
    [sites.baovephapluat]                             # with what differs for that site
    base_url = "http://127.0.0.1:8081"
    rate = 0.5

A site is named by its profile (``vksndtc``, ``baovephapluat``, or a profile file's name); a
table may name another ``profile`` (a built-in name or a TOML path) for the site. TOML cannot
hold ``sites`` as a list and as tables at once: the tables are the list then. Empty (the default):
one site, the one ``profile`` chooses, as before.

Each site gets its own base URL, scope, listing walk and politeness (rate, concurrency,
robots.txt, slow-downs): ``vksnd.crawler.crawl.sites`` builds each site's settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.load import load_profile
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.storage.sites import SITE_NAME_RE, SiteNameError, check_site_name

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
