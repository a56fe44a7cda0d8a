"""The body of an article-storing transaction: load what the batch can touch, let
``vksnd.storage.versions`` decide, write the decisions in a few ``executemany`` statements.

Ids and ``seq`` numbers are given here, from ``max() + 1`` read inside the transaction: the write
lock (``BEGIN IMMEDIATE``) makes that safe, and explicit ids let a whole batch go in one
``executemany`` per table. Statements are ordered so every foreign key holds after each one (a
pending deferred violation would make SQLite scan child tables on every insert).

The reads of a batch, which do not wait on each other, are handed to the connection's thread
all at once (``run_queued``): two round trips to that thread instead of eight.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from vksnd.storage import archive
from vksnd.storage.columns import (
    UrlKey,
    marks,
    no_url_key,
    published_to_db,
    strings_to_json,
    ts_to_db,
)
from vksnd.storage.records import RawPage, StoreRequest, StoreResult, UrlKind
from vksnd.storage.sites import SiteMap, qualified_key, split_key
from vksnd.storage.versions import Snapshot, VersionPlanner, VersionRow

# Below SQLite's default limit of variables per statement (32766) with a wide margin.
CHUNK = 900


def chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def run_queued(steps: Sequence[Awaitable[Any]]) -> list[Any]:
    """Hand all ``steps`` (aiosqlite calls) to the connection's thread at once; their results.

    aiosqlite runs its queue in order, so they execute in the order given, back to back: what
    is saved is the wake-up of the event loop between two statements, ~1-2 ms each on a busy
    2-core machine. A failed statement does not stop those queued behind it: the first error
    is raised once all are done, and the caller's transaction rolls back the lot.
    """
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def write_in_turn(
    conn: aiosqlite.Connection, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]
) -> None:
    """``executemany`` each (sql, rows) in order, skipping empty ones, waiting for each.

    Writes are not queued together as reads are: an I/O or disk-full error can make SQLite
    roll the whole transaction back, and statements already queued behind it would then run
    in autocommit mode, each committed alone."""
    for sql, rows in statements:
        if rows:
            await conn.executemany(sql, rows)


async def store_batch(
    conn: aiosqlite.Connection,
    requests: Sequence[StoreRequest],
    encoded: Sequence[archive.EncodedPage | None],
    page_ids: Sequence[int | None] | None,
    *,
    sites: SiteMap,
    touch_urls: bool = True,
    url_key: UrlKey = no_url_key,
) -> list[StoreResult]:
    """The body of the transaction: snapshot, plan, write. The planner sees site-qualified
    article keys (``storage.sites``): two sites' article 123 are two articles."""
    now = ts_to_db(datetime.now(UTC))
    raw_keys = [r.article.key or url_key(r.raw.url) for r in requests]
    site_of = [sites.site_of(r.raw.url) for r in requests]
    keys = [qualified_key(site, key) for site, key in zip(site_of, raw_keys, strict=True)]
    if page_ids is None:
        # both wait for each other's reads: nothing is queued after a failure's rollback
        snapshot, (page_ids, new_pages) = await run_queued(
            [load_snapshot(conn, requests, keys), plan_pages(conn, requests, encoded)]
        )
    else:
        snapshot, new_pages = await load_snapshot(conn, requests, keys), []
    planner = VersionPlanner(snapshot)
    results = [
        planner.place(r.article, (r.raw.url, r.article.url), key, page_id)
        for r, key, page_id in zip(requests, keys, page_ids, strict=True)
    ]
    # In this order every foreign key holds after each statement (a pending deferred
    # violation would make SQLite scan child tables on every insert): the pages, then clear
    # is_current of the superseded stored rows (the new current row may carry an old row's
    # hash, a revert, and only one current row per hash is allowed), insert, then link the
    # old rows.
    superseded = planner.superseded_stored_rows()
    writes: list[tuple[str, Sequence[Sequence[Any]]]] = [
        (INSERT_PAGE_SQL, new_pages),
        (
            "UPDATE articles SET is_current = 0 WHERE id = ?",
            [(old,) for old, _new in superseded],
        ),
        (
            "INSERT INTO articles (id, seq, root_id, content_hash, url, canonical_url,"
            " article_key, title, published_at, published_utc, author, category, text,"
            " captions, images, extractor, supersedes, superseded_by, reverts_to, is_current,"
            " page_id, created_at, site)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.row.id,
                    p.row.seq,
                    p.row.root_id,
                    p.row.content_hash,
                    p.fetched_url,
                    p.article.canonical_url,
                    split_key(p.row.key)[1],
                    p.article.title,
                    *published_to_db(
                        p.article.published_at, date_only=p.article.published_date_only
                    ),
                    p.article.author,
                    p.article.category,
                    p.article.text,
                    strings_to_json(p.article.captions),
                    strings_to_json(p.article.images),
                    p.article.extractor.label,
                    p.supersedes,
                    None,  # superseded_by: linked below, once the newer row exists
                    p.reverts_to,
                    int(p.row.is_current),
                    p.page_id,
                    now,
                    sites.site_of(p.fetched_url),
                )
                for p in planner.inserts
            ],
        ),
        (
            "UPDATE articles SET superseded_by = ? WHERE id = ?",
            [(new, old) for old, new in planner.superseded_by.items()],
        ),
        (
            "INSERT INTO article_urls (url, root_id, content_hash, first_seen_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE"
            " SET root_id = excluded.root_id, content_hash = excluded.content_hash",
            [(url, chain, digest, now) for url, (chain, digest) in planner.url_chains.items()],
        ),
        (
            "INSERT INTO article_urls (url, root_id, first_seen_at) VALUES (?, ?, ?)"
            " ON CONFLICT (url) DO NOTHING",
            [(url, chain, now) for url, chain in planner.url_chains_if_unmapped.items()],
        ),
    ]
    if touch_urls:
        writes.append(
            (
                MARK_FETCHED_SQL,
                [
                    fetched_row(
                        r.raw,
                        UrlKind.ARTICLE,
                        r.etag,
                        r.last_modified,
                        res.article_id,
                        key,
                        site=site,
                    )
                    for r, res, key, site in zip(requests, results, raw_keys, site_of, strict=True)
                ],
            )
        )
    await write_in_turn(conn, writes)
    return results


async def load_snapshot(
    conn: aiosqlite.Connection, requests: Sequence[StoreRequest], keys: Sequence[str | None]
) -> Snapshot:
    snap = Snapshot()
    hashes = list({r.article.content_hash for r in requests})
    urls = list({u for r in requests for u in (r.raw.url, r.article.url, r.article.canonical_url)})
    wanted_keys: dict[str, list[str]] = {}  # site -> its article keys
    for site, key in {split_key(k) for k in keys if k is not None}:
        if site is not None and key is not None:
            wanted_keys.setdefault(site, []).append(key)
    columns = "a.id, a.root_id, a.seq, a.content_hash, a.is_current, a.article_key, a.site"
    # The row a duplicate maps to: the current one, else the newest. Two queries, one per
    # partial index (a query without ``is_current`` in its WHERE could use neither).
    by_hash = [
        conn.execute_fetchall(
            f"SELECT {columns} FROM articles a WHERE a.is_current = {is_current}"
            f" AND a.content_hash IN ({marks(len(chunk))}) ORDER BY a.id DESC",
            chunk,
        )
        for is_current in (1, 0)
        for chunk in chunks(hashes)
    ]
    by_url = [
        conn.execute_fetchall(
            f"SELECT {columns}, au.url AS mapped_url, au.content_hash AS url_hash"
            " FROM article_urls au"
            " JOIN articles a ON a.root_id = au.root_id AND a.is_current = 1"
            f" WHERE au.url IN ({marks(len(chunk))})",
            chunk,
        )
        for chunk in chunks(urls)
    ]
    by_key = [
        conn.execute_fetchall(
            f"SELECT {columns} FROM articles a WHERE a.is_current = 1 AND a.site = ?"
            f" AND a.article_key IN ({marks(len(chunk))}) ORDER BY a.root_id DESC",
            [site, *chunk],
        )
        for site, site_keys in sorted(wanted_keys.items())
        for chunk in chunks(site_keys)
    ]
    next_ids = conn.execute_fetchall(
        # two scalar subqueries: one query with two max() would scan the table
        "SELECT coalesce((SELECT max(id) FROM articles), 0) + 1 AS next_id,"
        " coalesce((SELECT max(seq) FROM articles), 0) + 1 AS next_seq"
    )
    found = await run_queued([*by_hash, *by_url, *by_key, next_ids])
    hash_rows = found[: len(by_hash)]
    url_rows = found[len(by_hash) : len(by_hash) + len(by_url)]
    key_rows = found[len(by_hash) + len(by_url) : -1]
    for rows in hash_rows:
        for row in rows:
            snap.by_hash.setdefault(row["content_hash"], _version_row(row))
    for rows in url_rows:
        for row in rows:
            snap.chain_by_url[row["mapped_url"]] = row["root_id"]
            snap.last_hash_by_url[row["mapped_url"]] = row["url_hash"]
            snap.current_by_chain[row["root_id"]] = _version_row(row)
    for rows in key_rows:
        for row in rows:
            key = qualified_key(row["site"], row["article_key"])
            assert key is not None  # the query asked for keys
            snap.chain_by_key[key] = row["root_id"]  # the oldest chain wins
            snap.current_by_chain[row["root_id"]] = _version_row(row)  # (written last)
    (next_ids,) = found[-1]
    snap.next_id, snap.next_seq = next_ids["next_id"], next_ids["next_seq"]
    # A duplicate may map a URL to a chain found only by hash: know its current row too.
    missing = list({r.root_id for r in snap.by_hash.values()} - set(snap.current_by_chain))
    for rows in await run_queued(
        [
            conn.execute_fetchall(
                f"SELECT {columns} FROM articles a"
                f" WHERE a.is_current = 1 AND a.root_id IN ({marks(len(chunk))})",
                chunk,
            )
            for chunk in chunks(missing)
        ]
    ):
        for row in rows:
            snap.current_by_chain[row["root_id"]] = _version_row(row)
    # Rows of one chain must be the same objects in every map (supersession mutates them).
    for current in snap.current_by_chain.values():
        if snap.by_hash.get(current.content_hash, current).id == current.id:
            snap.by_hash[current.content_hash] = current
    return snap


INSERT_PAGE_SQL = (
    "INSERT INTO pages (id, url, final_url, status, headers, codec, body, body_size,"
    " body_sha256, fetched_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def plan_pages(
    conn: aiosqlite.Connection,
    requests: Sequence[StoreRequest],
    encoded: Sequence[archive.EncodedPage | None],
) -> tuple[list[int | None], list[tuple[Any, ...]]]:
    """Ids for the archived pages, reusing stored ones (same URL, same body), and the rows
    of the new ones (for ``INSERT_PAGE_SQL``, before any article that points to them)."""
    ids: dict[tuple[str, str], int] = {}
    wanted = {(r.raw.url, e.body_sha256) for r, e in zip(requests, encoded, strict=True) if e}
    if not wanted:
        return [None] * len(requests), []
    # By URL alone (an article URL has a page or two): "url IN (..) AND sha IN (..)" would
    # probe every url x sha pair of the index.
    *found, next_rows = await run_queued(
        [
            *(
                conn.execute_fetchall(
                    f"SELECT id, url, body_sha256 FROM pages WHERE url IN ({marks(len(chunk))})",
                    chunk,
                )
                for chunk in chunks(sorted({url for url, _ in wanted}))
            ),
            conn.execute_fetchall("SELECT coalesce(max(id), 0) + 1 AS next_id FROM pages"),
        ]
    )
    for rows in found:
        for row in rows:
            if (row["url"], row["body_sha256"]) in wanted:
                ids[(row["url"], row["body_sha256"])] = row["id"]
    (next_row,) = next_rows
    next_id = int(next_row["next_id"])
    new_rows: list[tuple[Any, ...]] = []
    page_ids: list[int | None] = []
    for request, enc in zip(requests, encoded, strict=True):
        if enc is None:
            page_ids.append(None)
            continue
        page_key = (request.raw.url, enc.body_sha256)
        if page_key not in ids:
            ids[page_key] = next_id
            new_rows.append((next_id, *page_row(request.raw, enc, UrlKind.ARTICLE)))
            next_id += 1
        page_ids.append(ids[page_key])
    return page_ids, new_rows


# -- rows shared with SqliteStore.record_page ----------------------------------------------


MARK_FETCHED_SQL = (
    "INSERT INTO urls (url, kind, state, http_status, etag, last_modified, attempts,"
    " first_seen_at, last_fetched_at, article_id, article_key, not_article, site)"
    " VALUES (?, ?, 'fetched', ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (url) DO UPDATE SET kind = excluded.kind, state = 'fetched',"
    " http_status = excluded.http_status, etag = excluded.etag,"
    " last_modified = excluded.last_modified, attempts = 0, last_error = NULL,"
    " next_retry_at = NULL, reason_class = NULL, last_fetched_at = excluded.last_fetched_at,"
    " article_id = coalesce(excluded.article_id, urls.article_id),"
    " not_article = excluded.not_article"
)


def fetched_row(
    raw: RawPage,
    kind: UrlKind,
    etag: str | None,
    last_modified: str | None,
    article_id: int | None,
    key: str | None,
    not_article: str | None = None,
    *,
    site: str,
) -> tuple[Any, ...]:
    """``key``: the article's key (``Article.key``, or the URL's by the site rule);
    ``not_article``: why a fetched page is not an article (the parser's verdict);
    ``site``: whose URL it is (``storage.sites``)."""
    fetched_at = ts_to_db(raw.fetched_at)
    return (
        raw.url,
        kind.value,
        raw.status,
        etag,
        last_modified,
        fetched_at,
        fetched_at,
        article_id,
        key,
        not_article,
        site,
    )


def page_row(raw: RawPage, enc: archive.EncodedPage, kind: UrlKind) -> tuple[Any, ...]:
    return (
        raw.url,
        raw.final_url,
        raw.status,
        enc.headers_json,
        enc.codec,
        enc.body,
        enc.body_size,
        enc.body_sha256,
        ts_to_db(raw.fetched_at),
        kind.value,
    )


def _version_row(row: sqlite3.Row) -> VersionRow:
    return VersionRow(
        id=row["id"],
        root_id=row["root_id"],
        seq=row["seq"],
        content_hash=row["content_hash"],
        is_current=bool(row["is_current"]),
        key=qualified_key(row["site"], row["article_key"]),
    )
