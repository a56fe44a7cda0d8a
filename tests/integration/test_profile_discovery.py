"""Sites vksnd was never written for, crawled from a profile holding only the keys of issue #15's
point 1 (name, base_url, urls.article, listing.template, listing.categories): no selector, no
other hint. ``vksnd backfill --profile FILE`` runs as a subprocess against the replica in a
variant whose URL scheme, listing markup and pager differ from the built-in portal's, and the
store is checked against the replica's ground truth. Also: a profile whose article pattern
matches nothing fails loudly, and the built-in baovephapluat profile crawls its replica exactly.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.crawl import FAST, run_cli, truth_articles
from vksnd.fixtures.portal import ReplicaServer

MakeReplica = Any
MIN_BODY_F1 = 0.99
# Chrome every provincial or baovephapluat page carries outside the article: never in a body.
BOILERPLATE = ("Chia sẻ:", "Tin liên quan", "Tin mới nhất", "Xem nhiều", "Bản quyền thuộc",
               "Trang chủ", "Văn bản mới", "Tin nổi bật")  # fmt: skip


def _site(replica: ReplicaServer) -> dict[str, Any]:
    info: dict[str, Any] = httpx.get(f"{replica.base_url}/_replica/site.json").json()
    return info.get("site", info)


def point_one_profile(site: dict[str, Any], path: Path, *, article: str | None = None) -> Path:
    """A profile file with only the keys of point 1, from what the replica says of itself."""
    template = site["listing_url_template"]
    if "{id}" in template:
        categories = ", ".join(
            f'{{ slug = "{c["slug"]}", id = {c["id"]} }}' for c in site["categories"]
        )
    else:
        categories = ", ".join(f'"{c["slug"]}"' for c in site["categories"])
    pattern = article if article is not None else site["article_url_regex"]
    path.write_text(
        f'name = "trial"\n'
        f'base_url = "{site["base_url"]}"\n'
        f"[urls]\narticle = '{pattern}'\n"
        f'[listing]\ntemplate = "{template}"\ncategories = [{categories}]\n',
        encoding="utf-8",
    )
    return path


def _tokens(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text.casefold()))


def body_f1(got: str, want: str) -> float:
    a, b = _tokens(got), _tokens(want)
    common = sum((a & b).values())
    if not common:
        return 1.0 if not a and not b else 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def stored_rows(db: Path) -> dict[str, dict[str, Any]]:
    """Current stored articles by canonical URL (read with plain sqlite3)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT canonical_url, title, published_at, author, text FROM articles"
            " WHERE is_current = 1"
        ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for url, title, published_at, author, text in rows:
        assert url not in out, f"{url} stored twice"
        out[url] = {"title": title, "published_at": published_at, "author": author, "text": text}
    return out


def assert_same_articles(db: Path, expected: list[dict[str, Any]]) -> None:
    """Exactly ``expected`` stored: title, date and author exact, body F1 >= 0.99 (and exact for
    nine in ten at least), no page chrome in any body."""
    stored = stored_rows(db)
    want = {a["canonical_url"]: a for a in expected}
    missing, extra = sorted(set(want) - set(stored)), sorted(set(stored) - set(want))
    assert not missing and not extra, f"missing {missing[:5]}, unexpected {extra[:5]}"
    low: list[tuple[str, float]] = []
    exact = 0
    for url, truth in want.items():
        got = stored[url]
        assert got["title"] == truth["title"], url
        assert got["published_at"] is not None and got["published_at"][:10] == truth["published"]
        assert got["author"] == truth["author"], url
        exact += got["text"] == truth["text"]
        score = body_f1(got["text"], truth["text"])
        if score < MIN_BODY_F1:
            low.append((url, score))
        for phrase in BOILERPLATE:
            assert phrase not in got["text"] or phrase in truth["text"], (url, phrase)
    assert not low, f"body F1 under {MIN_BODY_F1}: {low[:5]}"
    # Most bodies are the truth's text exactly; the rest differ by a line, within the F1 bound.
    assert exact >= 0.9 * len(want), f"only {exact} of {len(want)} bodies exact"


def _middle(replica: ReplicaServer) -> tuple[date, date]:
    days = sorted(date.fromisoformat(a["published"]) for a in replica.truth()["articles"])
    return days[len(days) // 4], days[len(days) * 3 // 4]


# The example (articles /tin-tuc/{cat}/{slug}-{id}.html, listings /chuyen-muc/{slug}
# ?trang={n}, a rel="next" pager), three named variants with other schemes, markup and pagers
# (cards and rel=next, a table with a numbered pager, no pager at all) and two random ones.
VARIANTS = [
    pytest.param({"variant": "chuyen-muc", "knobs": {"pager": "rel-next"}}, id="tin-tuc-rel-next"),
    pytest.param({"variant": "cards"}, id="cards"),
    pytest.param({"variant": "numbered"}, id="numbered"),
    pytest.param({"variant": "no-pager"}, id="no-pager"),
    pytest.param({"variant": "random-5"}, id="random-5"),
    pytest.param({"variant": "random-12"}, id="random-12"),
]


@pytest.mark.parametrize("shape", VARIANTS)
def test_backfill_of_an_unknown_site_from_a_point_one_profile(
    make_replica: MakeReplica, tmp_path: Path, shape: dict[str, Any]
) -> None:
    replica = make_replica(site="provincial", articles=60, seed=15, redirects=0, **shape)
    site = _site(replica)
    profile = point_one_profile(site, tmp_path / "trial.toml")
    since, until = _middle(replica)
    db = tmp_path / "v.db"

    done = run_cli(
        "backfill", "--profile", str(profile), "--db", str(db), *FAST,
        "--since", since.isoformat(), "--until", until.isoformat(),
        cwd=tmp_path, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    expected = truth_articles(replica.truth(), since, until)
    assert len(expected) >= 20
    assert_same_articles(db, expected)


def test_a_pattern_matching_nothing_fails_saying_so(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(site="provincial", variant="chuyen-muc", articles=30, seed=2)
    pattern = r"^/bai-viet/(?P<id>[0-9]+)\.html$"
    profile = point_one_profile(_site(replica), tmp_path / "wrong.toml", article=pattern)

    done = run_cli(
        "backfill", "--profile", str(profile), "--db", str(tmp_path / "v.db"), *FAST,
        "--since", "2000-01-01", "--until", "2100-01-01",
        cwd=tmp_path, timeout=120,
    )  # fmt: skip

    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "matched the article pattern" in line]
    assert lines, done.stderr[-3000:]
    assert pattern in lines[-1] and "failed" in lines[-1]
    assert re.search(r"no article links: no link on the \d+ listing pages? read", lines[-1])


def test_the_builtin_baovephapluat_profile_crawls_its_replica_exactly(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(site="baovephapluat", articles=60, seed=4, redirects=0)
    db = tmp_path / "v.db"

    done = run_cli(
        "crawl", "--profile", "baovephapluat", "--base-url", replica.base_url, "--db", str(db),
        *FAST, cwd=tmp_path, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_articles(db, truth_articles(replica.truth()))


# Every article of the range, not the middle half: the cards variant's short bodies made of
# div paragraphs (a lead in <strong>, a paragraph in <span>) and the numbered variant's table
# with a date row between the title and the text are read whole and without that row.
@pytest.mark.parametrize("variant", ["cards", "numbered"])
def test_every_article_of_a_variant_from_a_point_one_profile(
    make_replica: MakeReplica, tmp_path: Path, variant: str
) -> None:
    replica = make_replica(site="provincial", articles=60, seed=15, redirects=0, variant=variant)
    profile = point_one_profile(_site(replica), tmp_path / "trial.toml")
    db = tmp_path / "v.db"

    done = run_cli(
        "backfill", "--profile", str(profile), "--db", str(db), *FAST,
        "--since", "2000-01-01", "--until", "2100-01-01",
        cwd=tmp_path, timeout=180,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-3000:]
    expected = truth_articles(replica.truth())
    assert len(expected) >= 50
    assert_same_articles(db, expected)
    stored = stored_rows(db)
    assert all(stored[a["canonical_url"]]["text"] == a["text"] for a in expected)
