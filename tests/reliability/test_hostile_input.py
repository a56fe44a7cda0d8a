"""Hostile pages through the whole crawler: caps hold, memory stays flat, each URL gets a reason.

A "hostile portal" (``tests/support/loopback.py``) serves one category listing linking to pages
built to hurt: 100k-deep nesting, a 50 MB body, a gzip bomb, invalid bytes, a lying charset,
script-only and empty pages, absurd dates, a non-HTML body, a 100k-character title with NUL
bytes. ``vksnd crawl`` runs as a subprocess (so its peak RSS can be measured) and each URL's row
in the frontier is checked: stored, recorded as a page that is not an article, or skipped with a
clear reason. A listing with 6,000 links is walked within the listing parser's cap. Parser-level
hostility (arbitrary bytes, mangled markup, nesting, charsets) is in
``tests/unit/test_parse_robust.py``.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fuzz.run import TARGETS, Target, run_target
from support.crawl import (
    FAST,
    ROOT,
    cli,
    current_articles,
    integrity,
    run_cli,
    run_command,
    subprocess_env,
)
from support.loopback import Handler, Loopback, send
from support.pages import CATEGORY, PORTAL_HTML, hostile_article_path
from vksnd.fixtures.faults import gzip_bomb, oversize_chunks
from vksnd.fixtures.layouts import render_listing
from vksnd.fixtures.site import Site, SiteConfig
from vksnd.fixtures.urls import CATEGORIES, listing_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.errors import PageTooComplex
from vksnd.parsers.listing import MAX_ITEMS
from vksnd.parsers.urls import listing_url

GOOD_DATE = "12/06/2020"
GOOD_ISO = "2020-06-12T14:30:00+07:00"
MEMORY_CAP_MB = 250  # the crawler's peak RSS with a 50 MB body and a 1 GB gzip bomb served


def _unique(html: str, tag: str) -> str:
    """The seed page with one paragraph of its own, so it is not a duplicate of the control."""
    marker = '<div class="news-content">'
    assert marker in html
    return html.replace(marker, f"{marker}<p>Trang thử nghiệm: {tag}.</p>", 1)


def _with_date(day: str, iso: str) -> bytes:
    return _unique(PORTAL_HTML.replace(GOOD_DATE, day).replace(GOOD_ISO, iso), day).encode()


def _stream_50mb(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(50 * 1024 * 1024))
    handler.end_headers()
    try:
        for chunk in oversize_chunks(50):
            handler.wfile.write(chunk)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True  # the crawler hung up at its cap: what we want


def _static(body: bytes, content_type: str = "text/html; charset=utf-8",
            **headers: str) -> Callable[[Handler], None]:  # fmt: skip
    def route(handler: Handler) -> None:
        send(handler, 200, body, dict(headers), content_type=content_type)

    return route


@dataclass(frozen=True, slots=True)
class Hostile:
    name: str
    route: Callable[[Handler], None]
    state: str  # the URL's state after the crawl
    reason: str | None = None  # a substring of its recorded error
    stored: bool = False
    dated: bool = True  # stored with a publication date


INVALID = (
    _unique(PORTAL_HTML, "bytes")
    .encode()
    .replace("Đại hội".encode(), b"\xff\xfe\xc3(\xa0\xe2\x82", 3)
)
HUGE_TITLE = ("Tiêu đề\x00 dài " * 8_000).strip()
PAGES = (
    Hostile("control", _static(PORTAL_HTML.encode()), "fetched", stored=True),
    Hostile("deep nesting", _static(b"<html><body>" + b"<div>" * 100_000 + b"x"), "skipped",
            "nest"),
    Hostile("50 MB body", _stream_50mb, "skipped", "larger than"),
    Hostile("gzip bomb", _static(gzip_bomb(), **{"Content-Encoding": "gzip"}), "skipped",
            "larger than"),
    Hostile("invalid bytes", _static(INVALID), "fetched", stored=True),
    Hostile("lying charset", _static(PORTAL_HTML.encode("utf-16"),
                                     "text/html; charset=windows-1258"), "fetched",
            stored=True),  # UTF-16 with a BOM: the BOM beats the header, as browsers do
    Hostile("script only", _static(b"<html><body><script>" + b"x=1;" * 50_000 + b"</script>"),
            "fetched"),
    Hostile("empty body", _static(b""), "fetched"),
    Hostile("year 0001", _static(_with_date("01/01/0001", "0001-01-01T00:00:00+07:00")),
            "fetched", stored=True, dated=False),
    Hostile("year 9999", _static(_with_date("31/12/9999", "9999-12-31T23:59:59-05:00")),
            "fetched", stored=True, dated=False),
    Hostile("31 February", _static(_with_date("31/02/2024", "2024-02-31T10:00:00+07:00")),
            "fetched", stored=True, dated=False),
    Hostile("not HTML", _static(b"%PDF-1.4 " * 1000, "application/pdf"), "skipped", "not HTML"),
    Hostile("huge NUL title", _static(_unique(PORTAL_HTML, "title").replace(
        "<h1", f"<h1>{HUGE_TITLE}</h1><h2", 1).encode()), "fetched", stored=True),
)  # fmt: skip


@pytest.fixture
def hostile_portal() -> Iterator[Loopback]:
    app = Loopback().start()
    links = "".join(
        f'<li><a href="{hostile_article_path(9000 + i)}">{page.name}</a></li>'
        for i, page in enumerate(PAGES)
    )
    app.routes[listing_path(CATEGORY, 1)] = _static(
        f"<html><body><ul class='news-list'>{links}</ul></body></html>".encode()
    )
    for i, page in enumerate(PAGES):
        app.routes[hostile_article_path(9000 + i)] = page.route
    yield app
    app.stop()


def _rows(db: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """URL -> (state, last error, published_at of the current article it maps to)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT u.url, u.state, u.last_error, a.published_at FROM urls u"
            " LEFT JOIN article_urls au ON au.url = u.url"
            " LEFT JOIN articles a ON a.root_id = au.root_id AND a.is_current = 1"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _mapped(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT url FROM article_urls")}


def _peak_rss_kb(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """The process's own high-water RSS (``VmHWM``), read until it exits. Not ``ru_maxrss`` of
    the children: Linux seeds a child's with its parent's peak at fork/exec (pytest's own)."""
    status = Path(f"/proc/{proc.pid}/status")
    peak: int | None = None
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the crawl did not end"
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak or 0, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass  # gone between poll() and the read, or no /proc here
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.02)
    return peak


@pytest.mark.slow
def test_hostile_pages_stay_within_caps_and_each_gets_a_reason(
    hostile_portal: Loopback, tmp_path: Path
) -> None:
    db = tmp_path / "v.db"
    started = time.monotonic()
    with (tmp_path / "log").open("w") as log:
        proc = subprocess.Popen(
            cli("crawl", "--base-url", hostile_portal.base_url, "--db", str(db), *FAST,
                "--ignore-robots"),
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=log,
            env=subprocess_env(VKSND_CATEGORIES=str(CATEGORY), VKSND_RETRY_INITIAL="0.01",
                               VKSND_RETRY_MAX_WAIT="0.05"),
        )  # fmt: skip
        peak_kb = _peak_rss_kb(proc, deadline=started + 120)
    elapsed = time.monotonic() - started

    # partial: the oversize, too-deep and PDF pages are skipped, retried after days
    assert proc.returncode == 3, (tmp_path / "log").read_text()[-3000:]
    assert elapsed < 60
    if peak_kb is not None:
        assert peak_kb / 1024 < MEMORY_CAP_MB, f"crawler peaked at {peak_kb / 1024:.0f} MB"
    rows, mapped = _rows(db), _mapped(db)
    for i, page in enumerate(PAGES):
        url = hostile_portal.url(hostile_article_path(9000 + i))
        state, error, published = rows[url]
        assert state == page.state, (page.name, state, error)
        if page.reason is not None:
            assert error is not None and page.reason in error, (page.name, error)
        assert (url in mapped) == page.stored, page.name
        if page.stored:
            assert (published is not None) == page.dated, (page.name, published)
    assert integrity(db) == "ok"
    # Whatever was stored is sane text: valid UTF-8, no NUL, a bounded title, no absurd date.
    for article in current_articles(db):
        for value in (article.title, article.text, *article.captions):
            value.encode("utf-8")
            assert "\x00" not in value
        assert len(article.title) <= 2_000
        assert article.published_at is None or "2020" <= article.published_at[:4] <= "2030"
    # Nothing but the listing and its links was asked for: no robots, no images, no retries of
    # the permanent failures.
    assert all(p.startswith(("/tintuc/", "/tin-tuc/")) for p in hostile_portal.paths())


def test_a_listing_with_6000_links_is_walked_within_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = Site(SiteConfig(articles=6_000, seed=9, page_size=20))
    items = [item for cat in CATEGORIES for item in site.listing(cat.id, 1)[0]]
    for page in range(2, 400):
        for cat in CATEGORIES:
            items += site.listing(cat.id, page)[0]
    assert len(items) >= 5_500
    html = render_listing(
        CATEGORIES[0], items, 1, False, lambda n: listing_path(CATEGORIES[0].id, n)
    )
    app = Loopback().start()
    try:
        app.routes[listing_path(CATEGORIES[0].id, 1)] = _static(html.encode())
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("VKSND_CATEGORIES", str(CATEGORIES[0].id))
        started = time.monotonic()
        code = run_command(
            "backfill", "--base-url", app.base_url, "--db", str(tmp_path / "v.db"), *FAST,
            "--ignore-robots", "--since", "1990-01-01", "--dry-run",
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        app.stop()
    assert code == 0
    found = re.search(r"(\d+) articles to fetch", capsys.readouterr().out)
    assert found is not None
    assert 4_900 <= int(found.group(1)) <= MAX_ITEMS  # the first 5,000 links, in range
    assert elapsed < 30
    assert app.paths() == [listing_path(CATEGORIES[0].id, 1)]  # a dry run fetches no article
    assert listing_url(app.base_url, CATEGORIES[0].id, 1).endswith(app.paths()[0])


def test_a_50mb_body_is_refused_by_the_parser_at_once() -> None:
    body = b"".join(oversize_chunks(50))
    started = time.monotonic()
    with pytest.raises(PageTooComplex) as caught:
        parse_article(body, "https://vksndtc.gov.vn" + hostile_article_path(1))
    assert time.monotonic() - started < 1.0
    assert caught.value.url.endswith(hostile_article_path(1)) and caught.value.reason


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_targets_hold_for_a_short_run(target: Target) -> None:
    """The nightly fuzz properties (``fuzz/run.py``: parsers, decoder, URLs, dates) in CI."""
    outcome = run_target(target, seconds=5.0, max_examples=150, batch=150)
    assert outcome.failures == 0
    assert outcome.cases == 150


def test_the_fuzz_script_prints_its_case_counts(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), "--seconds", "0.5", "--max-examples", "50",
         "--targets", "urls", "dates"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert rows["urls"][0] == "50" and rows["dates"][0] == "50" and rows["total"] == ["100", "0"]


@pytest.mark.parametrize(("limit", "state"), [(None, "skipped"), ("20000000", "fetched")])
def test_max_body_bytes_from_the_environment_reaches_the_parser(
    tmp_path: Path, limit: str | None, state: str
) -> None:
    """b2de816: VKSND_MAX_BODY_BYTES=20000000 let the fetcher read an 11 MB article, then the
    parser refused it against its own 10 MB default ("body of … bytes over the … cap")."""
    app = Loopback().start()
    try:
        padding = "<!-- " + "x" * (11 * 1024 * 1024) + " -->"
        page = _unique(PORTAL_HTML, "big").replace("</body>", padding + "</body>").encode()
        app.routes[hostile_article_path(9500)] = _static(page)
        app.routes[listing_path(CATEGORY, 1)] = _static(
            f"<ul class='news-list'><li><a href='{hostile_article_path(9500)}'>big</a></li></ul>"
            .encode()
        )  # fmt: skip
        env = {"VKSND_CATEGORIES": str(CATEGORY)}
        if limit is not None:
            env["VKSND_MAX_BODY_BYTES"] = limit
        done = run_cli(
            "crawl", "--base-url", app.base_url, "--db", str(tmp_path / "v.db"), *FAST,
            "--ignore-robots", cwd=tmp_path, **env,
        )  # fmt: skip
    finally:
        app.stop()
    # the one article skipped: nothing could be fetched, a failed run
    assert done.returncode == (1 if state == "skipped" else 0), done.stdout + done.stderr
    (row,) = [r for u, r in _rows(tmp_path / "v.db").items() if u.endswith("-t9500.html")]
    assert row[0] == state, row
