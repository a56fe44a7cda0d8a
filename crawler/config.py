"""Effective settings: flags > ``VKSND_*`` environment > TOML file > defaults.

Settings are loaded once by a command and passed down explicitly as small frozen objects (no
globals). Every setting has one flat key used everywhere: the TOML key (``rate = 2``), the
environment variable (``VKSND_RATE``) and the argparse ``dest`` (``--rate``). ``resolve_settings``
also says where each value came from, which ``vksnd config`` prints.

Scope: when the base URL is the real portal (one of the profile's hosts) the scope is all the
profile's host aliases; any other base URL (the replica on ``127.0.0.1:PORT``) is its own and only
host:port, so a test crawl can never wander onto the real site.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from vksnd.parsers.article import DEFAULT_MAX_BYTES
from vksnd.parsers.profiles.vksndtc import PROFILE, SiteProfile
from vksnd.parsers.urls import host_key

DEFAULT_BASE_URL = "https://vksndtc.gov.vn"
DEFAULT_DB = Path("./data/vksnd.db")
DEFAULT_CONFIG_PATH = Path("./vksnd.toml")
DEFAULT_CONTACT_URL = "https://github.com/vksnd/vksnd"
DEFAULT_RATE = 2.0  # requests per second per host
DEFAULT_CONCURRENCY = 4  # requests in flight per host
DEFAULT_GLOBAL_CONCURRENCY = 16
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_POOL_TIMEOUT = 10.0
DEFAULT_TOTAL_TIMEOUT = 60.0  # one attempt, headers + whole body
DEFAULT_MAX_BODY_BYTES = DEFAULT_MAX_BYTES  # the parser's own cap: it refuses larger pages
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_RETRY_ATTEMPTS = 4
DEFAULT_RETRY_MAX_DELAY = 120.0  # stop retrying a URL after this; the daemon retries it later
DEFAULT_RETRY_INITIAL = 1.0
DEFAULT_RETRY_MAX_WAIT = 30.0
DEFAULT_RETRY_JITTER = 1.0
DEFAULT_RETRY_AFTER_CAP = 300.0
DEFAULT_SLOWDOWN_SECONDS = 300.0  # after a 429/503 the host runs at rate / slowdown_factor...
DEFAULT_SLOWDOWN_FACTOR = 4.0  # ...for this long
DEFAULT_ROBOTS_TTL = 86400.0  # robots.txt fetched once per host per day
DEFAULT_ROBOTS_ERROR_TTL = 300.0  # robots.txt 5xx/unreachable: disallow, ask again after this
DEFAULT_RECHECK_DAYS = 14
DEFAULT_INTERVAL_MINUTES = 30.0
DEFAULT_INTERVAL_JITTER = 120.0
DEFAULT_RETRY_PASS_MINUTES = 60.0
DEFAULT_LOG_FORMAT: Literal["text", "json"] = "text"
DEFAULT_OBEY_ROBOTS = True


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


@dataclass(frozen=True, slots=True)
class FetchConfig:
    user_agent: str = dataclasses.field(default_factory=default_user_agent)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    total_timeout: float = DEFAULT_TOTAL_TIMEOUT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    global_concurrency: int = DEFAULT_GLOBAL_CONCURRENCY


@dataclass(frozen=True, slots=True)
class PolitenessConfig:
    rate: float = DEFAULT_RATE
    concurrency: int = DEFAULT_CONCURRENCY
    obey_robots: bool = DEFAULT_OBEY_ROBOTS
    robots_ttl: float = DEFAULT_ROBOTS_TTL
    robots_error_ttl: float = DEFAULT_ROBOTS_ERROR_TTL
    slowdown_seconds: float = DEFAULT_SLOWDOWN_SECONDS
    slowdown_factor: float = DEFAULT_SLOWDOWN_FACTOR


@dataclass(frozen=True, slots=True)
class RetryConfig:
    attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_delay: float = DEFAULT_RETRY_MAX_DELAY
    initial: float = DEFAULT_RETRY_INITIAL
    max_wait: float = DEFAULT_RETRY_MAX_WAIT
    jitter: float = DEFAULT_RETRY_JITTER
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    recheck_days: int = DEFAULT_RECHECK_DAYS
    interval_minutes: float = DEFAULT_INTERVAL_MINUTES
    interval_jitter: float = DEFAULT_INTERVAL_JITTER  # seconds
    retry_pass_minutes: float = DEFAULT_RETRY_PASS_MINUTES
    listing_url_template: str = PROFILE.listing_url_template
    categories: tuple[int, ...] = tuple(c[0] for c in PROFILE.categories)
    export_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    base_url: str = DEFAULT_BASE_URL
    db: Path = DEFAULT_DB
    log_format: Literal["text", "json"] = DEFAULT_LOG_FORMAT
    http_bind: str | None = None  # host:port for the metrics/health endpoint, off by default
    fetch: FetchConfig = dataclasses.field(default_factory=FetchConfig)
    politeness: PolitenessConfig = dataclasses.field(default_factory=PolitenessConfig)
    retry: RetryConfig = dataclasses.field(default_factory=RetryConfig)
    crawl: CrawlConfig = dataclasses.field(default_factory=CrawlConfig)

    @property
    def scope_hosts(self) -> frozenset[str]:
        return scope_for(self.base_url, PROFILE)

    @property
    def profile(self) -> SiteProfile:
        """The site profile with the configured listing template."""
        if self.crawl.listing_url_template == PROFILE.listing_url_template:
            return PROFILE
        return dataclasses.replace(PROFILE, listing_url_template=self.crawl.listing_url_template)


def scope_for(base_url: str, profile: SiteProfile = PROFILE) -> frozenset[str]:
    key = host_key(base_url)
    if key is None:
        return frozenset()
    if key in profile.hosts:
        return frozenset(profile.hosts)
    return frozenset({key})


# --- the flat keys --------------------------------------------------------------------------

Section = Literal["", "fetch", "politeness", "retry", "crawl"]


@dataclass(frozen=True, slots=True)
class _Key:
    name: str  # flat key: TOML key, env suffix, argparse dest
    section: Section  # "" = a field of Settings itself
    field: str
    convert: Callable[[object], object]
    help: str


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


def _to_log_format(value: object) -> object:
    if value not in ("text", "json"):
        raise ValueError("expected 'text' or 'json'")
    return value


def _to_base_url(value: object) -> object:
    text = str(_to_str(value)).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an absolute http(s) URL")
    if parts.path or parts.query or parts.fragment:
        raise ValueError("expected scheme://host[:port] only")
    return text


def _to_categories(value: object) -> object:
    items: list[object]
    if isinstance(value, str):
        items = [part for part in value.replace(",", " ").split() if part]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError("expected a list of category ids")
    ids = tuple(int(item) for item in items if isinstance(item, (int, str)))
    if len(ids) != len(items) or not ids or any(i <= 0 for i in ids):
        raise ValueError("expected positive integer category ids")
    return ids


def _to_template(value: object) -> object:
    text = str(_to_str(value))
    if "{page}" not in text or not text.startswith("/"):
        raise ValueError("expected a path containing {page} (and {cat} or {slug}/{section})")
    try:
        text.format(cat=1, page=1, slug="s", section="t")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"unknown placeholder in template ({exc})") from exc
    return text


KEYS: tuple[_Key, ...] = (
    _Key("base_url", "", "base_url", _to_base_url, "portal (or replica) origin"),
    _Key("db", "", "db", _to_path, "SQLite database file"),
    _Key("log_format", "", "log_format", _to_log_format, "text or json"),
    _Key("http_bind", "", "http_bind", _to_opt_str, "host:port of the metrics endpoint"),
    _Key("user_agent", "fetch", "user_agent", _to_str, "User-Agent header"),
    _Key("connect_timeout", "fetch", "connect_timeout", _positive(float), "seconds"),
    _Key("read_timeout", "fetch", "read_timeout", _positive(float), "seconds"),
    _Key("pool_timeout", "fetch", "pool_timeout", _positive(float), "seconds"),
    _Key("total_timeout", "fetch", "total_timeout", _positive(float), "seconds per attempt"),
    _Key("max_body_bytes", "fetch", "max_body_bytes", _positive(int), "decompressed body cap"),
    _Key("max_redirects", "fetch", "max_redirects", _positive(int), "hops per fetch"),
    _Key("global_concurrency", "fetch", "global_concurrency", _positive(int), "all hosts"),
    _Key("rate", "politeness", "rate", _positive(float), "requests/s per host"),
    _Key("concurrency", "politeness", "concurrency", _positive(int), "in flight per host"),
    _Key("obey_robots", "politeness", "obey_robots", _to_bool, "obey robots.txt"),
    _Key("robots_ttl", "politeness", "robots_ttl", _positive(float), "seconds"),
    _Key("robots_error_ttl", "politeness", "robots_error_ttl", _positive(float), "seconds"),
    _Key("slowdown_seconds", "politeness", "slowdown_seconds", _non_negative_float, "seconds"),
    _Key("slowdown_factor", "politeness", "slowdown_factor", _positive(float), ">= 1"),
    _Key("retry_attempts", "retry", "attempts", _positive(int), "attempts per fetch"),
    _Key("retry_max_delay", "retry", "max_delay", _positive(float), "seconds per fetch"),
    _Key("retry_initial", "retry", "initial", _non_negative_float, "first backoff, seconds"),
    _Key("retry_max_wait", "retry", "max_wait", _non_negative_float, "longest backoff, seconds"),
    _Key("retry_jitter", "retry", "jitter", _non_negative_float, "seconds"),
    _Key("retry_after_cap", "retry", "retry_after_cap", _non_negative_float, "seconds"),
    _Key("recheck_days", "crawl", "recheck_days", _positive(int), "re-check recent articles"),
    _Key("interval_minutes", "crawl", "interval_minutes", _positive(float), "daemon interval"),
    _Key("interval_jitter", "crawl", "interval_jitter", _non_negative_float, "seconds"),
    _Key("retry_pass_minutes", "crawl", "retry_pass_minutes", _positive(float), "minutes"),
    _Key(
        "listing_url_template",
        "crawl",
        "listing_url_template",
        _to_template,
        "{cat} {slug} {section} {page}",
    ),
    _Key("categories", "crawl", "categories", _to_categories, "category ids"),
    _Key("export_dir", "crawl", "export_dir", _to_opt_path, "export directory"),
)
# Not a settings field: only used to build the default User-Agent.
CONTACT_URL_KEY = "contact_url"
KEY_NAMES = frozenset(k.name for k in KEYS) | {CONTACT_URL_KEY}
ENV_PREFIX = "VKSND_"


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
    unknown = sorted(set(table) - KEY_NAMES)
    if unknown:
        raise ConfigError(unknown[0], table[unknown[0]], f"file {path}", "unknown setting")
    return dict(table)


def resolve_settings(
    cli: Mapping[str, object], env: Mapping[str, str], config_path: Path | None
) -> ResolvedSettings:
    """Merge the four layers. ``cli`` may hold unrelated keys and ``None`` for flags not given."""
    path = config_path
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    file_values = _read_toml(path) if path is not None else {}

    def pick(name: str) -> tuple[object, str] | None:
        if cli.get(name) is not None:
            return cli[name], "flag"
        env_name = ENV_PREFIX + name.upper()
        if env.get(env_name, "") != "":
            return env[env_name], f"env {env_name}"
        if name in file_values:
            return file_values[name], f"file {path}"
        return None

    chosen: dict[Section, dict[str, object]] = {
        s: {} for s in ("", "fetch", "politeness", "retry", "crawl")
    }
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

    try:
        settings = Settings(
            **chosen[""],  # type: ignore[arg-type]
            fetch=FetchConfig(**chosen["fetch"]),  # type: ignore[arg-type]
            politeness=PolitenessConfig(**chosen["politeness"]),  # type: ignore[arg-type]
            retry=RetryConfig(**chosen["retry"]),  # type: ignore[arg-type]
            crawl=CrawlConfig(**chosen["crawl"]),  # type: ignore[arg-type]
        )
    except TypeError as exc:  # pragma: no cover - KEYS and the dataclasses disagree
        raise ConfigError("settings", chosen, "code", str(exc)) from exc
    given = {v.key for v in values}
    values.extend(
        SettingValue(key.name, current_value(settings, key.name), "default")
        for key in KEYS
        if key.name not in given
    )
    order = {k.name: i for i, k in enumerate(KEYS)}
    values.sort(key=lambda v: order.get(v.key, -1))
    return ResolvedSettings(settings, tuple(values), path)


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


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every networked command shares; all default to None so lower layers apply."""
    group = parser.add_argument_group("settings (flags > VKSND_* env > TOML file > defaults)")
    group.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"TOML settings file (default {DEFAULT_CONFIG_PATH} if present)",
    )
    group.add_argument(
        "--base-url",
        dest="base_url",
        default=None,
        help=f"portal origin (default {DEFAULT_BASE_URL})",
    )
    group.add_argument("--db", type=Path, default=None, help=f"database (default {DEFAULT_DB})")
    group.add_argument("--user-agent", dest="user_agent", default=None)
    group.add_argument(
        "--contact-url",
        dest="contact_url",
        default=None,
        help=f"contact URL in the default User-Agent ({DEFAULT_CONTACT_URL})",
    )
    group.add_argument(
        "--rate", type=float, default=None, help=f"requests/s per host (default {DEFAULT_RATE})"
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"requests in flight per host (default {DEFAULT_CONCURRENCY})",
    )
    group.add_argument("--global-concurrency", dest="global_concurrency", type=int, default=None)
    group.add_argument("--max-body-bytes", dest="max_body_bytes", type=int, default=None)
    group.add_argument("--retry-attempts", dest="retry_attempts", type=int, default=None)
    group.add_argument("--read-timeout", dest="read_timeout", type=float, default=None)
    group.add_argument(
        "--ignore-robots",
        dest="obey_robots",
        action="store_const",
        const=False,
        default=None,
        help="do not obey robots.txt (benchmarks against the replica)",
    )
    group.add_argument("--log-format", dest="log_format", choices=("text", "json"), default=None)
