"""Counters ``vksnd stats`` reads in O(1), kept exact by triggers in the writing transaction.

At a million articles the aggregates of ``stats`` scanned the archive (56% of the file), the
articles' wide rows and the frontier: 19.8 s (issue 17). The same numbers are now kept in one
small table, ``counts (name, key, n)``, by triggers on ``pages``, ``articles``,
``article_urls``, ``urls`` and ``failures``. A trigger runs inside the statement that fired it,
so a counter commits or rolls back with the row it counts: a killed writer, a failed batch or a
retry leaves them exact (``recount`` is the reference the tests compare with). Counters whose
value falls to zero are kept as rows with ``n = 0`` and not shown.

``name`` / ``key``:
- ``pages`` / '' (archived bodies), ``pages_stored`` / '' (compressed bytes), ``pages_raw`` / ''
- ``versions``, ``current``, ``reverts``, ``articles`` (chains: ``id = root_id``) / ''
- ``article_urls`` / '' and ``urls_collapsed`` / '': fetched URLs beyond the first per chain
  (for each chain, max(0, URLs with a hash - 1))
- ``urls_state`` / state, ``urls_kind`` / kind, ``not_article`` / verdict,
  ``waiting`` / ``state/reason_class`` (failed, skipped, gone)
- ``failures`` / reason
- ``scope_urls`` / ``scope<TAB>state`` and ``scope_mapped`` / ``scope`` (fetched article URLs
  with an article), for article URLs with a scope

Migration 5 (``schema.MIGRATIONS``) creates the table, fills it with ``FILL`` (one scan of
each table, once) and creates the triggers.
"""

from __future__ import annotations

import sqlite3

TABLE = """
CREATE TABLE counts (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (name, key)
) WITHOUT ROWID
"""

_UPSERT = " ON CONFLICT (name, key) DO UPDATE SET n = n + excluded.n"


def _bump(name: str, key: str, delta: str, when: str = "1") -> str:
    """One trigger statement: add ``delta`` to counter (``name``, ``key``) when ``when`` holds.
    ``key`` and ``when`` are SQL over NEW/OLD; the WHERE also settles the UPSERT parse."""
    return (
        f"INSERT INTO counts (name, key, n) SELECT '{name}', {key}, {delta} WHERE {when}{_UPSERT};"
    )


def _url_bumps(row: str, sign: str) -> str:
    """The counters of one ``urls`` row (``row`` is NEW or OLD), added with ``sign``."""
    r = row
    return "\n".join(
        (
            _bump("urls_state", f"{r}.state", sign),
            _bump("urls_kind", f"{r}.kind", sign),
            _bump("not_article", f"{r}.not_article", sign, f"{r}.not_article IS NOT NULL"),
            _bump(
                "waiting",
                f"{r}.state || '/' || coalesce({r}.reason_class, '?')",
                sign,
                f"{r}.state IN ('failed', 'skipped', 'gone')",
            ),
            _bump(
                "scope_urls",
                f"{r}.scope || char(9) || {r}.state",
                sign,
                f"{r}.scope IS NOT NULL AND {r}.kind = 'article'",
            ),
            _bump(
                "scope_mapped",
                f"{r}.scope",
                sign,
                f"{r}.scope IS NOT NULL AND {r}.kind = 'article' AND {r}.state = 'fetched'"
                f" AND {r}.article_id IS NOT NULL",
            ),
        )
    )


def _article_bumps(row: str, sign: str) -> str:
    r = row
    return "\n".join(
        (
            _bump("versions", "''", sign),
            _bump("current", "''", f"{sign} * {r}.is_current"),
            _bump("reverts", "''", sign, f"{r}.reverts_to IS NOT NULL"),
            _bump("articles", "''", sign, f"{r}.id = {r}.root_id"),
        )
    )


def _page_bumps(row: str, sign: str) -> str:
    r = row
    return "\n".join(
        (
            _bump("pages", "''", sign),
            _bump("pages_stored", "''", f"{sign} * length({r}.body)"),
            _bump("pages_raw", "''", f"{sign} * {r}.body_size"),
        )
    )


def _collapsed(row: str, sign: str) -> str:
    """A hashed URL joining (``+``) or leaving (``-``) its chain changes the collapsed count by
    one when the chain holds another hashed URL. Written for AFTER triggers: ``NEW.url`` is the
    row itself, excluded from the others (on delete, OLD.url is gone already)."""
    r = row
    me = "NEW.url" if sign == "+1" or row == "NEW" else "OLD.url"
    return _bump(
        "urls_collapsed",
        "''",
        sign,
        f"{r}.content_hash IS NOT NULL AND EXISTS (SELECT 1 FROM article_urls o"
        f" WHERE o.root_id = {r}.root_id AND o.content_hash IS NOT NULL AND o.url != {me})",
    )


def _trigger(name: str, event: str, table: str, body: str, when: str = "") -> str:
    cond = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} AFTER {event} ON {table}{cond} BEGIN\n{body}\nEND"


_URL_FIELDS = ("state", "kind", "not_article", "reason_class", "scope", "article_id")
_ARTICLE_FIELDS = ("is_current", "reverts_to", "root_id")

TRIGGERS: tuple[str, ...] = (
    _trigger("counts_pages_ins", "INSERT", "pages", _page_bumps("NEW", "+1")),
    _trigger("counts_pages_del", "DELETE", "pages", _page_bumps("OLD", "-1")),
    _trigger(
        "counts_pages_upd",
        "UPDATE OF body, body_size",
        "pages",
        _page_bumps("OLD", "-1") + "\n" + _page_bumps("NEW", "+1"),
    ),
    _trigger("counts_articles_ins", "INSERT", "articles", _article_bumps("NEW", "+1")),
    _trigger("counts_articles_del", "DELETE", "articles", _article_bumps("OLD", "-1")),
    _trigger(
        "counts_articles_upd",
        f"UPDATE OF {', '.join(_ARTICLE_FIELDS)}",
        "articles",
        _article_bumps("OLD", "-1") + "\n" + _article_bumps("NEW", "+1"),
        " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f in (*_ARTICLE_FIELDS, "id")),
    ),
    _trigger(
        "counts_article_urls_ins",
        "INSERT",
        "article_urls",
        _bump("article_urls", "''", "+1") + "\n" + _collapsed("NEW", "+1"),
    ),
    _trigger(
        "counts_article_urls_del",
        "DELETE",
        "article_urls",
        _bump("article_urls", "''", "-1") + "\n" + _collapsed("OLD", "-1"),
    ),
    _trigger(
        "counts_article_urls_upd",
        "UPDATE OF content_hash, root_id, url",
        "article_urls",
        # as if the old row left (the others: every row but this one, wherever it is now)
        # and the new one joined
        _bump(
            "urls_collapsed",
            "''",
            "-1",
            "OLD.content_hash IS NOT NULL AND EXISTS (SELECT 1 FROM article_urls o"
            " WHERE o.root_id = OLD.root_id AND o.content_hash IS NOT NULL AND o.url != NEW.url)",
        )
        + "\n"
        + _collapsed("NEW", "+1"),
        "OLD.content_hash IS NOT NEW.content_hash OR OLD.root_id IS NOT NEW.root_id"
        " OR OLD.url IS NOT NEW.url",
    ),
    _trigger("counts_urls_ins", "INSERT", "urls", _url_bumps("NEW", "+1")),
    _trigger("counts_urls_del", "DELETE", "urls", _url_bumps("OLD", "-1")),
    _trigger(
        "counts_urls_upd",
        f"UPDATE OF {', '.join(_URL_FIELDS)}",
        "urls",
        _url_bumps("OLD", "-1") + "\n" + _url_bumps("NEW", "+1"),
        " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f in _URL_FIELDS),
    ),
    _trigger("counts_failures_ins", "INSERT", "failures", _bump("failures", "NEW.reason", "+1")),
    _trigger("counts_failures_del", "DELETE", "failures", _bump("failures", "OLD.reason", "-1")),
    _trigger(
        "counts_failures_upd",
        "UPDATE OF reason",
        "failures",
        _bump("failures", "OLD.reason", "-1") + "\n" + _bump("failures", "NEW.reason", "+1"),
    ),
)

# Every counter from the tables as they are: the migration's fill and the tests' reference.
RECOUNT: tuple[str, ...] = (
    "SELECT 'pages' AS name, '' AS key, count(*) AS n FROM pages",
    "SELECT 'pages_stored', '', coalesce(sum(length(body)), 0) FROM pages",
    "SELECT 'pages_raw', '', coalesce(sum(body_size), 0) FROM pages",
    "SELECT 'versions', '', count(*) FROM articles",
    "SELECT 'current', '', coalesce(sum(is_current), 0) FROM articles",
    "SELECT 'reverts', '', count(reverts_to) FROM articles",
    "SELECT 'articles', '', count(*) FROM articles WHERE id = root_id",
    "SELECT 'article_urls', '', count(*) FROM article_urls",
    "SELECT 'urls_collapsed', '', count(*) - count(DISTINCT root_id) FROM article_urls"
    " WHERE content_hash IS NOT NULL",
    "SELECT 'urls_state', state, count(*) FROM urls GROUP BY state",
    "SELECT 'urls_kind', kind, count(*) FROM urls GROUP BY kind",
    "SELECT 'not_article', not_article, count(*) FROM urls WHERE not_article IS NOT NULL"
    " GROUP BY not_article",
    "SELECT 'waiting', state || '/' || coalesce(reason_class, '?') AS k, count(*) FROM urls"
    " WHERE state IN ('failed', 'skipped', 'gone') GROUP BY k",
    "SELECT 'scope_urls', scope || char(9) || state AS k, count(*) FROM urls"
    " WHERE scope IS NOT NULL AND kind = 'article' GROUP BY k",
    "SELECT 'scope_mapped', scope, count(*) FROM urls WHERE scope IS NOT NULL"
    " AND kind = 'article' AND state = 'fetched' AND article_id IS NOT NULL GROUP BY scope",
    "SELECT 'failures', reason, count(*) FROM failures GROUP BY reason",
)

FILL = tuple(f"INSERT INTO counts (name, key, n) {sql}" for sql in RECOUNT)

MIGRATION: tuple[str, ...] = (TABLE, *FILL, *TRIGGERS)


def recount(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Every counter counted again from the tables (slow: the reference for tests)."""
    out: dict[tuple[str, str], int] = {}
    for sql in RECOUNT:
        for row in conn.execute(sql):
            if row[2]:
                out[(str(row[0]), str(row[1]))] = int(row[2])
    return out


def stored(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """The counters as the triggers keep them (zeros left out)."""
    return {
        (str(row[0]), str(row[1])): int(row[2])
        for row in conn.execute("SELECT name, key, n FROM counts WHERE n != 0")
    }
