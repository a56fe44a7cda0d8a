"""Long property-based fuzzing of what reads untrusted bytes: the article and listing parsers,
the body decoder, the URL canonicalizer and the date parser. For nightly runs:

    python fuzz/run.py --seconds 600                 # share the time between all targets
    python fuzz/run.py --seconds 60 --targets urls dates --max-examples 200000

Each target is a hypothesis property (the same invariants as the test suite, run far longer).
Hypothesis stops a run at ``max_examples``, so a target is run in rounds of ``--batch`` cases,
each round a new random seed, until its share of the time or its case budget is spent. It prints
one line per target: cases run, failures, seconds. A failure prints hypothesis's shrunk example
and the run exits 1. The example database is off: every night explores fresh inputs.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]  # tests/support

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from support.pages import PORTAL_HTML, URL  # noqa: E402
from support.strategies import PORTAL, REPLICA, TAGS, urlish  # noqa: E402
from vksnd.parsers.article import parse_article  # noqa: E402
from vksnd.parsers.dates import (  # noqa: E402
    EARLIEST,
    VIETNAM_TZ,
    DateSignal,
    parse_date_line,
    parse_date_text,
    parse_iso,
    resolve_published,
)
from vksnd.parsers.decoding import decode_body  # noqa: E402
from vksnd.parsers.errors import ParseError  # noqa: E402
from vksnd.parsers.listing import MAX_ITEMS, parse_listing  # noqa: E402
from vksnd.parsers.urls import canonicalize, in_scope, is_article_url  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=VIETNAM_TZ)


def _article_fields_sane(body: bytes) -> None:
    try:
        article = parse_article(body, URL)
    except ParseError:
        return
    for value in (article.title, article.text, *article.captions, article.author or ""):
        value.encode("utf-8")  # no lone surrogate can reach storage or JSON
        json.dumps(value, ensure_ascii=False)
    assert article.text.strip(), "an article with no text"
    assert len(article.content_hash) == 64


html_pieces = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=30)), max_size=160)


def target_article_bytes(data: bytes) -> None:
    _article_fields_sane(data)


def target_article_markup(pieces: list[str]) -> None:
    _article_fields_sane(("<html><body>" + "".join(pieces)).encode("utf-8", "surrogatepass"))


def target_article_splice(cut: int, drop: int, junk: bytes) -> None:
    raw = PORTAL_HTML.encode("utf-8")
    _article_fields_sane(raw[:cut] + junk + raw[cut + drop :])


def target_listing(pieces: list[str], links: list[str]) -> None:
    anchors = "".join(f'<a href="{link}">{i}</a>' for i, link in enumerate(links))
    body = ("<html><body>" + "".join(pieces) + anchors).encode("utf-8", "surrogatepass")
    listing = parse_listing(body, URL, None, scope_hosts=PORTAL)
    urls = [item.url for item in listing.items]
    assert len(urls) == len(set(urls)) <= MAX_ITEMS
    assert all(in_scope(u, PORTAL) and is_article_url(u) for u in urls)


def target_decode(body: bytes, content_type: str | None) -> None:
    text = decode_body(body, content_type)
    text.encode("utf-8")


def target_urls(raw: str, portal: bool) -> None:
    scope = PORTAL if portal else REPLICA
    base = "https://vksndtc.gov.vn/a/" if portal else "http://127.0.0.1:8123/a/"
    once = canonicalize(raw, base=base, scope_hosts=scope)
    if once is None:
        return
    assert in_scope(once, scope) and once.isascii() and "#" not in once
    assert canonicalize(once, base=base, scope_hosts=scope) == once


def target_dates(text: str, parts: tuple[int, int, int, int, int, int], offset: int) -> None:
    y, mo, d, hh, mi, ss = parts
    sign = "+" if offset >= 0 else "-"
    iso = f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}{sign}{abs(offset) // 60:02d}:"
    iso += f"{abs(offset) % 60:02d}"
    signals: list[DateSignal] = []
    for found in (
        parse_iso(iso),
        parse_iso(text),
        parse_date_text(text),
        parse_date_line(text),
        parse_date_text(f"{d:02d}/{mo:02d}/{y:04d} {hh:02d}:{mi:02d}"),
    ):
        if found is not None:
            assert found.value.tzinfo is not None
            signals.append(found)
    resolved = resolve_published(signals, NOW)
    if resolved is not None:
        assert EARLIEST <= resolved.date() <= (NOW + timedelta(days=1)).date()


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    property: Callable[..., None]
    strategies: tuple[st.SearchStrategy[object], ...]


TARGETS = (
    Target("article_bytes", target_article_bytes, (st.binary(max_size=4000),)),
    Target("article_markup", target_article_markup, (html_pieces,)),
    Target(
        "article_splice",
        target_article_splice,
        (st.integers(0, len(PORTAL_HTML)), st.integers(0, 600), st.binary(max_size=40)),
    ),
    Target("listing", target_listing, (html_pieces, st.lists(urlish(), max_size=30))),
    Target(
        "decode",
        target_decode,
        (
            st.binary(max_size=2000),
            st.one_of(
                st.none(),
                st.text(max_size=40),
                st.sampled_from(
                    [
                        "text/html; charset=utf-8",
                        "text/html; charset=windows-1258",
                        "text/html; charset=utf-16",
                        "text/html; charset=bogus",
                        "text/html;charset=",
                    ]
                ),
            ),
        ),
    ),
    Target("urls", target_urls, (st.one_of(urlish(), st.text(max_size=120)), st.booleans())),
    Target(
        "dates",
        target_dates,
        (
            st.text(max_size=60),
            st.tuples(
                st.integers(0, 10000),
                st.integers(0, 13),
                st.integers(0, 32),
                st.integers(0, 24),
                st.integers(0, 60),
                st.integers(0, 60),
            ),
            st.integers(-15 * 60, 15 * 60),
        ),
    ),
)


@dataclass(slots=True)
class Outcome:
    cases: int = 0
    failures: int = 0
    seconds: float = 0.0


def run_target(target: Target, seconds: float, max_examples: int, batch: int) -> Outcome:
    outcome = Outcome()
    counted = 0

    def counting(args: tuple[object, ...]) -> None:
        nonlocal counted
        counted += 1
        target.property(*args)

    started = time.monotonic()
    rng = random.Random()
    examples = min(batch, 100)  # a first small round measures the target's speed
    while time.monotonic() - started < seconds and counted < max_examples:
        examples = min(examples, max_examples - counted)
        test = settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(seed(rng.getrandbits(64))(given(st.tuples(*target.strategies))(counting)))
        try:
            test()
        except Exception as exc:  # hypothesis re-raises the shrunk failure: report and go on
            outcome.failures += 1
            print(f"[{target.name}] FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
            break
        elapsed = time.monotonic() - started
        rate = counted / max(elapsed, 1e-6)  # size the next round to the time left
        examples = max(10, min(batch, int(rate * (seconds - elapsed))))
    outcome.cases = counted
    outcome.seconds = time.monotonic() - started
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="total, shared by targets")
    parser.add_argument("--max-examples", type=int, default=10_000_000, help="per target")
    parser.add_argument("--batch", type=int, default=2_000, help="cases per hypothesis run")
    parser.add_argument("--targets", nargs="*", choices=[t.name for t in TARGETS], default=None)
    args = parser.parse_args(argv)
    chosen = [t for t in TARGETS if args.targets is None or t.name in args.targets]
    share = args.seconds / len(chosen)
    print(f"{'target':<16} {'cases':>10} {'failures':>9} {'seconds':>8} {'cases/s':>8}")
    failed = 0
    total = 0
    for target in chosen:
        outcome = run_target(target, share, args.max_examples, args.batch)
        failed += outcome.failures
        total += outcome.cases
        rate = outcome.cases / max(outcome.seconds, 1e-9)
        print(
            f"{target.name:<16} {outcome.cases:>10} {outcome.failures:>9}"
            f" {outcome.seconds:>8.1f} {rate:>8.0f}",
            flush=True,
        )
    print(f"{'total':<16} {total:>10} {failed:>9}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
