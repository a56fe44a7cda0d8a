"""Publication dates: every form the portal and its sister sites print, and when to trust them.

Forms read: ``18/10/2022``, ``17/6/2024``, ``18-10-2022``, ``Thứ Hai, 17/06/2024 08:15``,
``20/04/2024 13:42 CH`` (SA/CH = a.m./p.m.), ``Cập nhật lúc 12:12, Thứ ba, 01/08/2023 (GMT+7)``,
``Ngày 17 tháng 6 năm 2024``, ISO 8601 (``article:published_time``, JSON-LD ``datePublished``,
``<time datetime>``). Every result is timezone-aware Vietnam time (fixed UTC+7: Vietnam has no
DST). A page's published date is decided by ``resolve_published`` from all its signals: a wrong
date is worse than none, so signals that disagree by more than a day give ``None``, and absurd
dates (before 1945, or after tomorrow) are ignored as signals.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo

from vksnd.parsers.profiles.model import DEFAULT_TIME_ZONE

# The default profile's zone as a fixed offset (Vietnam has no DST; a fixed offset is far cheaper
# than ZoneInfo in the hot path). A profile in another zone: ``in_zone``.
VIETNAM_TZ = timezone(timedelta(hours=7), DEFAULT_TIME_ZONE)
EARLIEST = date(1945, 1, 1)
MAX_DISAGREEMENT = timedelta(days=1)
_ONE_DAY = timedelta(days=1)  # how far past "now" a clue may lie (clock skew, time zones)

_WEEKDAY = r"(?:thứ\s*(?:hai|ba|tư|năm|sáu|bảy|bẩy|[2-7])|chủ\s*nhật|cn)"
_TIME = (
    r"(?P<h>\d{1,2})\s*[:hg]\s*(?P<mi>\d{2})(?:\s*:\s*(?P<s>\d{2}))?"
    r"(?:\s*(?P<ampm>sa|ch|am|pm))?"
)
_DMY = r"(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})\s*[/.-]\s*(?P<y>\d{4})"
_LONG = r"ngày\s+(?P<d>\d{1,2})\s+tháng\s+(?P<m>\d{1,2})\s*(?:,\s*|\s+)năm\s+(?P<y>\d{4})"

_DMY_RE = re.compile(r"(?<!\d)" + _DMY + r"(?!\d)", re.IGNORECASE)
_LONG_RE = re.compile(_LONG, re.IGNORECASE)
_TIME_RE = re.compile(r"(?<![\d/.-])" + _TIME + r"(?![\d/])", re.IGNORECASE)

# A line that is nothing but a date: optional label, weekday, time, zone, in any order.
_LABEL = (
    r"(?:cập\s*nhật(?:\s*lúc)?|ngày\s*đăng|đăng\s*(?:ngày|lúc)?|thời\s*gian|xuất\s*bản|"
    r"posted|updated|published)"
)
_FILLER_RE = re.compile(
    r"(?:" + _LABEL + r"|" + _WEEKDAY + r"|\(?\s*gmt\s*[+-]\s*\d{1,2}(?::?\d{2})?\s*\)?|"
    r"lúc|[,:|\-–—()\s])*",
    re.IGNORECASE,
)


class DateSignal(NamedTuple):
    """One published-date clue. ``has_time``: the source gave a time of day, not just a date.

    Immutable like the records, but a tuple: a page makes several and drops them at once, and
    a frozen dataclass pays a ``__setattr__`` detour per field."""

    value: datetime
    source: str
    has_time: bool


def _make(y: int, mo: int, d: int, hh: int = 0, mi: int = 0, ss: int = 0) -> datetime | None:
    try:
        return datetime(y, mo, d, hh, mi, ss, tzinfo=VIETNAM_TZ)
    except ValueError:
        return None


def _time_of(text: str) -> tuple[int, int, int] | None:
    match = _TIME_RE.search(text)
    if match is None:
        return None
    hour, minute = int(match["h"]), int(match["mi"])
    second = int(match["s"] or 0)
    ampm = (match["ampm"] or "").lower()
    if ampm in ("ch", "pm") and hour < 12:
        hour += 12
    elif ampm in ("sa", "am") and hour == 12:
        hour = 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


# ``dd/mm/yyyy`` alone, as listings print it beside a link and most date lines read.
SLASH_DATE_RE = re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")


def find_slash_date(text: str) -> date | None:
    """The first valid ``dd/mm/yyyy`` in ``text`` (an invalid one, 31/02, is passed over)."""
    for match in SLASH_DATE_RE.finditer(text):
        day, month, year = (int(g) for g in match.groups())
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def parse_date_text(text: str) -> DateSignal | None:
    """The first date printed in ``text`` (with its time of day when one is printed)."""
    if len(text) <= 10:  # the commonest date line, a bare dd/mm/yyyy: no time to look for
        plain = SLASH_DATE_RE.fullmatch(text)
        if plain is not None:
            value = _make(int(plain[3]), int(plain[2]), int(plain[1]))
            return DateSignal(value, "text", False) if value is not None else None
    match = _DMY_RE.search(text) or _LONG_RE.search(text)
    if match is None:
        return None
    rest = text[: match.start()] + " " + text[match.end() :]
    clock = _time_of(rest)
    hh, mi, ss = clock if clock else (0, 0, 0)
    value = _make(int(match["y"]), int(match["m"]), int(match["d"]), hh, mi, ss)
    if value is None:
        return None
    return DateSignal(value, "text", clock is not None)


def parse_date_line(line: str) -> DateSignal | None:
    """Like ``parse_date_text``, but only when the line holds nothing besides the date."""
    if len(line) > 80:
        return None
    found = parse_date_text(line)
    if found is None:
        return None
    stripped = _DMY_RE.sub(" ", line, count=1)
    stripped = _LONG_RE.sub(" ", stripped, count=1)
    stripped = _TIME_RE.sub(" ", stripped, count=1)
    if _FILLER_RE.fullmatch(stripped) is None:
        return None
    return found


_ISO_RE = re.compile(
    r"^\s*(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?\s*$"
)

_ISO_GROUPS = ("y", "m", "d", "h", "mi", "s", "tz")


@functools.lru_cache(maxsize=64)
def _offset_tz(raw: str) -> tzinfo | None:
    """The zone of an ISO offset (``Z``, ``+07:00``, ``-0330``); None past ±14 h. Cached: a
    site writes one or two offsets, and building a ``timezone`` is the dearest step here."""
    if raw == "Z":
        return UTC
    sign = -1 if raw[0] == "-" else 1
    digits = raw[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:])
    if minutes > 14 * 60:
        return None
    return timezone(sign * timedelta(minutes=minutes))


def parse_iso(text: str, source: str = "iso") -> DateSignal | None:
    """ISO 8601 date or datetime; a missing offset means Vietnam time."""
    match = _ISO_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, raw_tz = match.group(*_ISO_GROUPS)
    tz: tzinfo | None = VIETNAM_TZ
    if raw_tz:
        tz = _offset_tz(raw_tz)
        if tz is None:
            return None
    try:
        value = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tz,
        )
        local = value.astimezone(VIETNAM_TZ)
    except (ValueError, OverflowError):  # 31/02; year 0001 or 9999 shifted past datetime's range
        return None
    return DateSignal(local, source, hour is not None)


def by_formats(text: str, formats: tuple[str, ...]) -> DateSignal | None:
    """``text`` read by a profile's ``date_formats`` (strptime), tried in order."""
    for fmt in formats:
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if value.tzinfo is None:
            value = value.replace(tzinfo=VIETNAM_TZ)
        has_time = any(code in fmt for code in ("%H", "%I", "%M"))
        return DateSignal(value, "page", has_time)
    return None


# Signals read from a wall clock printed on the page (no offset of their own).
_WALL_CLOCK = frozenset({"page", "text", "listing"})


def in_site_zone(signal: DateSignal, zone: str) -> datetime:
    """The signal's time; a wall-clock reading on a site outside the default zone is that
    site's local time (an ISO date with an offset keeps its own)."""
    if zone == DEFAULT_TIME_ZONE or signal.source not in _WALL_CLOCK:
        return signal.value
    return signal.value.replace(tzinfo=ZoneInfo(zone))


def from_listing(day: date) -> DateSignal:
    return DateSignal(datetime.combine(day, time(), VIETNAM_TZ), "listing", False)


def resolve_published(signals: list[DateSignal], now: datetime | None = None) -> datetime | None:
    """One date from all clues, or ``None`` when there is none or they disagree."""
    found = resolve_published_signal(signals, now)
    return None if found is None else found.value


def resolve_published_signal(
    signals: list[DateSignal], now: datetime | None = None
) -> DateSignal | None:
    """``resolve_published``, keeping whether the winning clue gave a time of day (a page that
    prints a date alone has a date, not an invented midnight).

    Absurd clues are dropped first. The survivors must all lie within a day of each other
    (a date-only clue stands for its whole day); the most precise one wins: a clue with a time
    of day beats a bare date, earlier clues in ``signals`` beat later ones.
    """
    latest = (now or datetime.now(VIETNAM_TZ)) + _ONE_DAY
    kept: list[DateSignal] = []
    days: list[date] = []
    for signal in signals:
        day = signal.value.astimezone(VIETNAM_TZ).date()
        if day >= EARLIEST and signal.value <= latest:
            kept.append(signal)
            days.append(day)
    if not kept:
        return None
    if len(days) > 1 and max(days) - min(days) > MAX_DISAGREEMENT:
        return None
    timed = [s for s in kept if s.has_time]
    best = timed[0] if timed else kept[0]
    return DateSignal(best.value.astimezone(VIETNAM_TZ), best.source, best.has_time)
