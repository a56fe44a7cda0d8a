"""SqliteStore on real SQLite files: dedupe, versions, frontier, archive, runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sqlite3
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.storage import (
    FETCHED_AT,
    article_url,
    check_invariants,
    make_article,
    make_raw,
    vietnamese_text,
)
from vksnd.storage.records import (
    NewUrl,
    RunCounters,
    RunOutcome,
    StoreOutcome,
    StoreRequest,
    UrlKind,
    UrlState,
)
from vksnd.storage.sqlite import SqliteStore, StoreConfig

TEXT = "Viện kiểm sát nhân dân tối cao tổ chức hội nghị.\n\nĐồng chí Hòa phát biểu về sức khỏe."
# The same text with the tone marks on the second vowel (hoà, khoẻ): one article, not two.
TEXT_OTHER_TONES = TEXT.replace("Hòa", "Hoà").replace("khỏe", "khoẻ")


async def _store(store: SqliteStore, url: str, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return await store.store_article(make_article(url, text, **kwargs), make_raw(url), None, None)  # type: ignore[arg-type]


def _rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def test_same_text_under_two_urls_is_one_article(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        first = await _store(store, article_url(1), TEXT)
        second = await _store(store, article_url(2), TEXT)
        again = await _store(store, article_url(1), TEXT)
    assert first.outcome is StoreOutcome.NEW
    assert second.outcome is StoreOutcome.DUPLICATE
    assert again.outcome is StoreOutcome.UNCHANGED
    assert second.article_id == first.article_id and second.seq == first.seq
    assert _rows(db, "SELECT count(*) FROM articles") == [(1,)]
    mapped = _rows(db, "SELECT url, root_id FROM article_urls ORDER BY url")
    assert mapped == [(article_url(1), first.article_id), (article_url(2), first.article_id)]
    check_invariants(db)


async def test_tone_spellings_dedupe_and_first_spelling_is_kept(tmp_path: Path) -> None:
    assert TEXT != TEXT_OTHER_TONES
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        first = await _store(store, article_url(1), TEXT)
        second = await _store(store, article_url(2), TEXT_OTHER_TONES)
        # and the same URL re-served in the other spelling is not an edit
        third = await _store(store, article_url(1), TEXT_OTHER_TONES)
    assert first.content_hash == second.content_hash
    assert second.outcome is StoreOutcome.DUPLICATE
    assert third.outcome is StoreOutcome.UNCHANGED
    assert _rows(db, "SELECT text FROM articles") == [(TEXT,)]


async def test_edit_makes_a_new_version_and_keeps_the_old(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    edited = TEXT + "\n\nĐoạn bổ sung."
    async with await SqliteStore.open(db) as store:
        v1 = await _store(store, article_url(7), TEXT)
        v2 = await _store(store, article_url(7), edited)
        # the print view (same article number, another URL form) shows the edit too
        printed = await _store(
            store,
            "https://vksndtc.gov.vn/UserControls/Publishing/News/BinhLuan/pFormPrint.aspx"
            "?UrlListProcess=x&ItemID=7&webP=portal",
            edited,
        )
    assert v2.outcome is StoreOutcome.NEW_VERSION
    assert v2.seq > v1.seq and v2.article_id != v1.article_id
    assert printed.outcome is StoreOutcome.DUPLICATE and printed.article_id == v2.article_id
    rows = _rows(
        db, "SELECT id, text, is_current, supersedes, superseded_by FROM articles ORDER BY seq"
    )
    assert rows == [
        (v1.article_id, TEXT, 0, None, v2.article_id),
        (v2.article_id, edited, 1, v1.article_id, None),
    ]
    check_invariants(db)


async def test_legacy_url_of_a_known_article_number_joins_its_chain(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    legacy = "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&ItemID=12123"
    async with await SqliteStore.open(db) as store:
        v1 = await _store(store, article_url(12123), TEXT)
        v2 = await _store(store, legacy, TEXT + " Sửa.")
    assert v2.outcome is StoreOutcome.NEW_VERSION
    assert _rows(db, "SELECT root_id FROM articles WHERE id = ?", (v2.article_id,)) == [
        (v1.article_id,)
    ]


async def test_reverted_edit_is_a_new_version_pointing_back(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    url = article_url(3)
    async with await SqliteStore.open(db) as store:
        a = await _store(store, url, TEXT)
        b = await _store(store, url, TEXT + " B")
        a2 = await _store(store, url, TEXT)
        a3 = await _store(store, url, TEXT)
    assert a2.outcome is StoreOutcome.NEW_VERSION
    assert a2.content_hash == a.content_hash and a2.seq > b.seq
    assert a3.outcome is StoreOutcome.UNCHANGED and a3.article_id == a2.article_id
    rows = _rows(db, "SELECT id, supersedes, reverts_to, is_current FROM articles ORDER BY seq")
    assert rows == [
        (a.article_id, None, None, 0),
        (b.article_id, a.article_id, None, 0),
        (a2.article_id, b.article_id, a.article_id, 1),
    ]
    check_invariants(db)


async def test_stale_mirror_of_an_old_version_does_not_flap(tmp_path: Path) -> None:
    """Two URLs of one article; one is edited, the other keeps the old text: no new rows."""
    db = tmp_path / "v.db"
    main, mirror = article_url(5), "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&ItemID=5"
    async with await SqliteStore.open(db) as store:
        await _store(store, main, TEXT)
        await _store(store, mirror, TEXT)
        await _store(store, main, TEXT + " sửa")
        results = [await _store(store, url, text) for url, text in
                   [(mirror, TEXT), (main, TEXT + " sửa")] * 3]  # fmt: skip
    assert {r.outcome for r in results} == {StoreOutcome.UNCHANGED}
    assert _rows(db, "SELECT count(*) FROM articles") == [(2,)]


async def test_duplicate_url_that_diverges_becomes_its_own_article(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        one = await _store(store, article_url(1), TEXT)
        await _store(store, article_url(2), TEXT)  # republished under another number
        own = await _store(store, article_url(2), "Bài viết riêng của số hai.")
        still = await _store(store, article_url(1), TEXT)
    assert own.outcome is StoreOutcome.NEW
    assert still.outcome is StoreOutcome.UNCHANGED and still.article_id == one.article_id
    assert _rows(db, "SELECT count(*), sum(is_current) FROM articles") == [(2, 2)]
    check_invariants(db)


async def test_canonical_url_maps_to_the_article(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    fetched = article_url(9) + "?Page=3"
    async with await SqliteStore.open(db) as store:
        await store.store_article(
            make_article(fetched, TEXT, canonical_url=article_url(9)), make_raw(fetched), None, None
        )
        known = await store.known_article_urls([article_url(9), fetched, article_url(10)])
        again = await _store(store, article_url(9), TEXT + " mới")
    assert known == {article_url(9), fetched}
    assert again.outcome is StoreOutcome.NEW_VERSION


async def test_batch_sees_its_own_earlier_items(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    requests = [
        StoreRequest(make_article(article_url(1), TEXT), make_raw(article_url(1))),
        StoreRequest(make_article(article_url(2), TEXT_OTHER_TONES), make_raw(article_url(2))),
        StoreRequest(make_article(article_url(1), TEXT + " x"), make_raw(article_url(1), b"2")),
        StoreRequest(make_article(article_url(1), TEXT), make_raw(article_url(1), b"3")),
    ]
    async with await SqliteStore.open(db) as store:
        results = await store.store_articles(requests)
    assert [r.outcome for r in results] == [
        StoreOutcome.NEW,
        StoreOutcome.DUPLICATE,
        StoreOutcome.NEW_VERSION,
        StoreOutcome.NEW_VERSION,  # the revert, inside one batch
    ]
    assert [r.seq for r in results] == [1, 1, 2, 3]
    check_invariants(db)


OPS = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.booleans()), min_size=1, max_size=25
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, batch=st.integers(1, 7))
def test_batches_decide_exactly_like_single_calls(
    ops: list[tuple[int, int, bool]], batch: int
) -> None:
    """Any interleaving of URLs and texts: same outcomes one by one or in batches, and the
    invariants hold."""
    urls = [article_url(1), article_url(2), article_url(3),
            "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&ItemID=1"]  # fmt: skip
    texts = [TEXT, TEXT_OTHER_TONES, TEXT + " B", TEXT + " C"]
    requests = [
        StoreRequest(
            make_article(urls[u], texts[t], canonical_url=urls[0] if canon else None),
            make_raw(urls[u], texts[t].encode()),
        )
        for u, t, canon in ops
    ]

    async def scenario(root: Path) -> None:
        async with await SqliteStore.open(root / "one.db") as one:
            singles = [
                await one.store_article(r.article, r.raw, r.etag, r.last_modified) for r in requests
            ]
        async with await SqliteStore.open(root / "many.db") as many:
            batched = []
            for start in range(0, len(requests), batch):
                batched.extend(await many.store_articles(requests[start : start + batch]))
        assert batched == singles
        for name in ("one.db", "many.db"):
            check_invariants(root / name)
        dump = "SELECT seq, content_hash, is_current, supersedes, reverts_to FROM articles"
        assert _rows(root / "one.db", dump) == _rows(root / "many.db", dump)

    with tempfile.TemporaryDirectory() as root:
        asyncio.run(scenario(Path(root)))


async def test_archive_keeps_one_row_per_distinct_body_and_round_trips(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    body = vietnamese_text(random.Random(1)).encode() * 3
    url = article_url(4)
    async with await SqliteStore.open(db) as store:
        for _ in range(3):
            await store.store_article(make_article(url, TEXT), make_raw(url, body), '"e1"', None)
        pages = [page async for page in store.archived_article_pages()]
    assert len(pages) == 1
    page = pages[0]
    assert page.body == body and page.url == url and page.fetched_at == FETCHED_AT
    assert ("ETag", '"abc"') in page.headers
    stored, size = _rows(db, "SELECT length(body), body_size FROM pages")[0]
    assert size == len(body) and isinstance(stored, int) and stored < len(body) / 3


async def test_archive_off_stores_no_pages(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db, StoreConfig(archive=False)) as store:
        await _store(store, article_url(1), TEXT)
    assert _rows(db, "SELECT count(*) FROM pages") == [(0,)]
    assert _rows(db, "SELECT page_id FROM articles") == [(None,)]


async def test_frontier_add_due_fail_and_resume(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    now = datetime(2026, 3, 1, tzinfo=UTC)
    a, b, c = (
        article_url(1),
        article_url(2),
        "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=1",
    )
    async with await SqliteStore.open(db) as store:
        added = await store.add_urls(
            [
                NewUrl(a, UrlKind.ARTICLE),
                NewUrl(b, UrlKind.ARTICLE, date(2024, 5, 1)),
                NewUrl(c, UrlKind.LISTING),
            ]
        )
        again = await store.add_urls(
            [NewUrl(a, UrlKind.ARTICLE, date(2024, 6, 1)), NewUrl(b, UrlKind.ARTICLE)]
        )
        assert (added, again) == (3, 0)
        record = await store.get_url(a)
        assert record is not None and record.listed_on == date(2024, 6, 1)  # filled, was empty
        record_b = await store.get_url(b)
        assert record_b is not None and record_b.listed_on == date(2024, 5, 1)  # kept
        assert [r.url for r in await store.due_urls(now, 10)] == [a, b, c]

        await store.record_failure(a, "timeout", None, now + timedelta(minutes=5))
        await store.record_failure(b, "http 404", 404, None, permanent=True)
        await store.record_failure(c, "robots", None, None, permanent=True)
        assert [r.url for r in await store.due_urls(now, 10)] == []
        assert [r.url for r in await store.due_urls(now + timedelta(minutes=6), 10)] == [a]
        failed = await store.get_url(a)
        assert failed is not None
        assert (failed.state, failed.attempts, failed.last_error) == (UrlState.FAILED, 1, "timeout")
        gone, skipped = await store.get_url(b), await store.get_url(c)
        assert gone is not None and gone.state is UrlState.GONE and gone.http_status == 404
        assert skipped is not None and skipped.state is UrlState.SKIPPED
        assert await store.get_url("https://vksndtc.gov.vn/unknown") is None

    # a new process resumes the same frontier
    async with await SqliteStore.open(db) as store:
        assert [r.url for r in await store.due_urls(now + timedelta(hours=1), 10)] == [a]
        await store.store_article(make_article(a, TEXT), make_raw(a), '"v1"', "Mon, 01 Jan 2024")
        fetched = await store.get_url(a)
        assert fetched is not None
        assert (fetched.state, fetched.attempts, fetched.etag) == (UrlState.FETCHED, 0, '"v1"')
        assert fetched.article_id is not None and fetched.last_fetched_at == FETCHED_AT
        later = FETCHED_AT + timedelta(days=1)
        await store.record_not_modified(a, later)
        checked = await store.get_url(a)
        assert checked is not None and checked.last_fetched_at == later
        assert checked.http_status == 304 and checked.etag == '"v1"'
        assert await store.due_urls(now + timedelta(hours=1), 10) == []
    assert _rows(db, "SELECT reason, count(*) FROM failures GROUP BY reason ORDER BY reason") == [
        ("http 404", 1), ("robots", 1), ("timeout", 1)]  # fmt: skip


async def test_record_page_archives_listing_and_marks_fetched(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    listing = "https://vksndtc.gov.vn/tintuc/Pages/lists.aspx?Cat=2&Page=1"
    async with await SqliteStore.open(db) as store:
        await store.add_urls([NewUrl(listing, UrlKind.LISTING)])
        await store.record_page(make_raw(listing, b"<ul>items</ul>"), UrlKind.LISTING, None, None)
        await store.record_page(make_raw(listing, b"<ul>items</ul>"), UrlKind.LISTING, None, None)
        record = await store.get_url(listing)
        reparse = [p async for p in store.archived_article_pages()]
    assert record is not None and record.state is UrlState.FETCHED
    assert _rows(db, "SELECT kind, count(*) FROM pages GROUP BY kind") == [("listing", 1)]
    assert reparse == []  # listings are not re-extracted as articles


async def test_recent_article_urls_uses_publication_time(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        await _store(store, article_url(1), TEXT, published_at=datetime(2024, 1, 1, tzinfo=UTC))
        await _store(
            store, article_url(2), TEXT + " 2", published_at=datetime(2025, 1, 1, tzinfo=UTC)
        )
        recent = await store.recent_article_urls(datetime(2024, 6, 1, tzinfo=UTC))
    assert [r.url for r in recent] == [article_url(2)]


async def test_runs_are_recorded_with_counters(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        run_id = await store.start_run("crawl")
        await store.finish_run(
            run_id, RunCounters(pages_fetched=5, duplicates=2, parse_fallbacks=1),
            outcome=RunOutcome.INTERRUPTED, reason="stopped by a signal",
        )  # fmt: skip
    kind, ok, outcome, reason, counters = _rows(
        db, "SELECT kind, ok, outcome, reason, counters FROM runs"
    )[0]
    assert (kind, ok, outcome, reason) == ("crawl", 0, "interrupted", "stopped by a signal")
    assert isinstance(counters, str)
    loaded = json.loads(counters)
    assert loaded["pages_fetched"] == 5 and loaded["parse_fallbacks"] == 1
    assert set(loaded) == {f.name for f in dataclasses.fields(RunCounters)}  # one flat record


async def test_store_reparsed_links_the_archived_page(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    url = article_url(11)
    async with await SqliteStore.open(db) as store:
        await _store(store, url, TEXT)
        (page,) = [p async for p in store.archived_article_pages()]
        assert page.content_hash == make_article(url, TEXT).content_hash
        result = await store.store_reparsed(make_article(url, TEXT + " sạch hơn"), page)
    assert result.outcome is StoreOutcome.NEW_VERSION
    assert _rows(db, "SELECT count(*) FROM pages") == [(1,)]
    assert _rows(db, "SELECT page_id FROM articles WHERE id = ?", (result.article_id,)) == [
        (page.page_id,)
    ]


async def test_concurrent_tasks_on_one_store_do_not_interleave(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    rng = random.Random(3)
    texts = [vietnamese_text(rng, 2, 20) for _ in range(40)]
    async with await SqliteStore.open(db) as store:
        results = await asyncio.gather(
            *(_store(store, article_url(i), texts[i % 20]) for i in range(40)),
            *(store.add_urls([NewUrl(article_url(100 + i), UrlKind.ARTICLE)]) for i in range(20)),
        )
    outcomes = [r.outcome for r in results[:40]]
    assert outcomes.count(StoreOutcome.NEW) == 20 and outcomes.count(StoreOutcome.DUPLICATE) == 20
    check_invariants(db)


async def test_concurrent_batches_commit_in_call_order(tmp_path: Path) -> None:
    """The second call compresses while the first writes, but commits after it: an edit sent
    right after the original is a new version, never a new article stored first."""
    db = tmp_path / "v.db"
    rng = random.Random(5)
    big = [
        StoreRequest(make_article(article_url(i), f"Bài {i}."),
                     make_raw(article_url(i), rng.randbytes(100_000)))
        for i in range(40)
    ]  # fmt: skip
    edit = [StoreRequest(make_article(article_url(39), "Bài 39, sửa."), make_raw(article_url(39)))]
    async with await SqliteStore.open(db) as store:
        first = asyncio.create_task(store.store_articles(big))
        second = asyncio.create_task(store.store_articles(edit))
        (edited,) = await second
        originals = await first
    assert originals[-1].outcome is StoreOutcome.NEW
    assert edited.outcome is StoreOutcome.NEW_VERSION and edited.seq == 41


async def test_write_path_statements_search_indexes_never_scan(tmp_path: Path) -> None:
    """Every statement of the store and frontier hot paths, as SQLite plans it on a real file:
    a full scan in there makes inserts slow down as the database grows."""
    db = tmp_path / "v.db"
    statements: list[str] = []
    async with await SqliteStore.open(db) as store:
        await _store(store, article_url(1), TEXT)
        await store._conn.set_trace_callback(statements.append)
        await store.add_urls([NewUrl(article_url(2), UrlKind.ARTICLE, date(2024, 1, 1))])
        await store.store_articles(
            [
                StoreRequest(make_article(article_url(i), f"{TEXT} {i}"), make_raw(article_url(i)))
                for i in (1, 2, 3)
            ]
        )
        await store.get_url(article_url(2))
        await store.known_article_urls([article_url(2)])
        await store.record_failure(article_url(4), "timeout", None, None)
        await store.record_not_modified(article_url(2), FETCHED_AT)
        await store._conn.set_trace_callback(None)
    conn = sqlite3.connect(db)
    try:
        scans = {}
        for sql in statements:
            if sql.split()[0].upper() not in ("SELECT", "UPDATE", "INSERT", "DELETE"):
                continue
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            bad = [step for step in plan if step.startswith("SCAN") and "CONSTANT ROW" not in step]
            if bad:
                scans[sql[:120]] = bad
    finally:
        conn.close()
    assert len(statements) > 10
    assert scans == {}
