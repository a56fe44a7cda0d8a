"""How Python values are written to and read from SQLite columns.

Instants are stored as fixed-width UTC ISO strings (``2024-06-17T03:00:00.000000+00:00``) so that
text comparison is time comparison and indexes on them work. A naive datetime is taken to be UTC.
A publication time keeps the offset the parser gave (the portal's local day matters for
``--since``); its UTC form is stored beside it for comparisons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

# A URL's article key (one key names one article whatever the URL form, so a legacy URL of a
# stored article is recognised as the same article). The rule is the site profile's: the parser
# puts it in ``Article.key``, and the crawler hands the store the function for frontier URLs
# (``StoreConfig.url_key``); storage knows no site.
UrlKey = Callable[[str], str | None]


def ts_to_db(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def opt_ts_to_db(value: datetime | None) -> str | None:
    return None if value is None else ts_to_db(value)


def ts_from_db(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def opt_ts_from_db(value: str | None) -> datetime | None:
    return None if value is None else ts_from_db(value)


def published_to_db(
    value: datetime | None, *, date_only: bool = False
) -> tuple[str | None, str | None]:
    """(as given, UTC) forms of a publication time; a page that gave a date without a time of
    day is stored as the date alone (``2024-06-17``), its UTC form at that day's start."""
    if value is None:
        return None, None
    shown = value.date().isoformat() if date_only else value.isoformat()
    return shown, ts_to_db(value)


def opt_date_to_db(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def opt_date_from_db(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def marks(count: int) -> str:
    """``?,?,?`` for an ``IN (...)`` of ``count`` values."""
    return ",".join("?" * count)


def strings_to_json(values: Sequence[str]) -> str:
    if not values:
        return "[]"  # most articles have no captions or images: skip the encoder
    return json.dumps(list(values), ensure_ascii=False)


def strings_from_json(value: str) -> tuple[str, ...]:
    loaded = json.loads(value)
    if not isinstance(loaded, list) or not all(isinstance(v, str) for v in loaded):
        raise ValueError(f"expected a JSON list of strings, got {value[:80]!r}")
    return tuple(loaded)


def no_url_key(url: str) -> str | None:
    """The key of a URL when no site rule was given: none."""
    return None
