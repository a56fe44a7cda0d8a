"""Date forms of the portal and its sister sites, and the rules for trusting them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from vksnd.parsers.dates import (
    VIETNAM_TZ,
    DateSignal,
    from_listing,
    parse_date_line,
    parse_date_text,
    parse_iso,
    resolve_published,
)

NOW = datetime(2025, 7, 1, 12, 0, tzinfo=VIETNAM_TZ)


def vn(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=VIETNAM_TZ)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected", "has_time"),
    [
        ("18/10/2022", vn(2022, 10, 18), False),
        ("17/6/2024", vn(2024, 6, 17), False),
        ("Thứ Hai, 17/06/2024 08:15", vn(2024, 6, 17, 8, 15), True),
        ("Ngày 17 tháng 6 năm 2024", vn(2024, 6, 17), False),
        ("Cập nhật: 05/12/2023 14:07", vn(2023, 12, 5, 14, 7), True),
        ("Cập nhật lúc 12:12, Thứ ba, 01/08/2023 (GMT+7)", vn(2023, 8, 1, 12, 12), True),
        ("Thứ Bảy, 20/04/2024 01:42 CH", vn(2024, 4, 20, 13, 42), True),
        ("14/07/2020 14:07", vn(2020, 7, 14, 14, 7), True),
    ],
)
def test_visible_forms(text: str, expected: datetime, has_time: bool) -> None:
    found = parse_date_line(text)
    assert found is not None
    assert found.value == expected
    assert found.has_time is has_time


@pytest.mark.parametrize(
    "text", ["31/02/2024", "hello", "Ngày 18/10/2022, Văn phòng tổ chức hội nghị"]
)
def test_not_date_lines(text: str) -> None:
    assert parse_date_line(text) is None


def test_date_inside_text() -> None:
    found = parse_date_text("Ngày 18/10/2022, Văn phòng tổ chức")
    assert found is not None and found.value == vn(2022, 10, 18)


def test_iso_forms_become_vietnam_time() -> None:
    assert parse_iso("2022-10-18T08:30:00+07:00").value == vn(2022, 10, 18, 8, 30)  # type: ignore[union-attr]
    assert parse_iso("2022-10-18T01:30:00Z").value == vn(2022, 10, 18, 8, 30)  # type: ignore[union-attr]
    no_tz = parse_iso("2022-10-18T08:30")
    assert no_tz is not None and no_tz.value == vn(2022, 10, 18, 8, 30)
    assert parse_iso("2022-10-18") is not None and not parse_iso("2022-10-18").has_time  # type: ignore[union-attr]
    assert parse_iso("18/10/2022") is None
    assert parse_iso("2022-13-40") is None


def test_agreeing_signals_give_the_most_precise() -> None:
    signals = [DateSignal(vn(2022, 10, 18), "page", False), parse_iso("2022-10-18T08:30:00+07:00")]
    assert resolve_published([s for s in signals if s], NOW) == vn(2022, 10, 18, 8, 30)


def test_disagreeing_signals_give_none() -> None:
    signals = [
        DateSignal(vn(2022, 10, 18), "meta", False),
        DateSignal(vn(2022, 10, 25), "page", False),
    ]
    assert resolve_published(signals, NOW) is None


def test_the_pages_date_wins_over_the_listings() -> None:
    """A listing may show the date of the last update, days after publication (#15)."""
    signals = [from_listing(date(2022, 10, 25)), DateSignal(vn(2022, 10, 18, 7, 30), "page", True)]
    assert resolve_published(signals, NOW) == vn(2022, 10, 18, 7, 30)
    assert resolve_published([from_listing(date(2022, 10, 25))], NOW) == vn(2022, 10, 25)


def test_one_day_apart_is_agreement() -> None:
    signals = [from_listing(date(2022, 10, 18)), DateSignal(vn(2022, 10, 19, 0, 5), "meta", True)]
    assert resolve_published(signals, NOW) == vn(2022, 10, 19, 0, 5)


@pytest.mark.parametrize("bad", [vn(1900, 1, 1), NOW + timedelta(days=3)])
def test_absurd_dates_rejected(bad: datetime) -> None:
    assert resolve_published([DateSignal(bad, "meta", True)], NOW) is None


def test_no_signal_no_date() -> None:
    assert resolve_published([], NOW) is None


def test_iso_offsets_edges_and_the_canonical_form() -> None:
    """The form CMSs write and its edges, through the one ISO reader."""
    got = parse_iso("2024-06-17T08:15:00+07:00")
    assert got is not None and got.value == vn(2024, 6, 17, 8, 15) and got.has_time
    east = parse_iso("2024-06-17T08:15:00+14:00")
    assert east is not None and east.value == vn(2024, 6, 17, 1, 15)
    assert parse_iso("2024-06-17T08:15:00+14:30") is None  # no such offset
    assert parse_iso("2024-06-17T24:00:00+07:00") is None
    assert parse_iso("0001-01-01T00:00:00+07:00") is None  # shifted out of datetime's range
