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
- ``current_site`` / site: current versions of each site (what a pass's revalidation counts for
  its site, issue 17; migration 7)
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
_TAB = "char(9)"


def _add(deltas: dict[str, str]) -> str:
    """Add to unkeyed counters (rows the fill created): one statement, one row each.
    ``deltas`` maps a counter to an SQL expression over NEW/OLD."""
    cases = " ".join(f"WHEN '{name}' THEN {delta}" for name, delta in deltas.items())
    names = ", ".join(f"'{name}'" for name in deltas)
    return (
        f"UPDATE counts SET n = n + (CASE name {cases} END) WHERE key = '' AND name IN ({names});"
    )


def _keyed(bumps: list[tuple[str, str, str]]) -> str:
    """Add to keyed counters in one statement: ``bumps`` are (name, key SQL, delta SQL); a
    NULL key is skipped, and a row's old and new contributions to one key cancel out."""
    rows = " UNION ALL ".join(
        f"SELECT '{name}' AS c, {key} AS k, {delta} AS d" for name, key, delta in bumps
    )
    return (
        f"INSERT INTO counts (name, key, n) SELECT c, k, sum(d) FROM ({rows})"
        f" WHERE k IS NOT NULL GROUP BY c, k HAVING sum(d) != 0{_UPSERT};"
    )


def _url_bumps(r: str, sign: str) -> list[tuple[str, str, str]]:
    """The keyed counters of one ``urls`` row (``r`` is NEW or OLD), added with ``sign``."""
    article = f"{r}.scope IS NOT NULL AND {r}.kind = 'article'"
    return [
        ("urls_state", f"{r}.state", sign),
        ("urls_kind", f"{r}.kind", sign),
        ("not_article", f"{r}.not_article", sign),
        (
            "waiting",
            f"CASE WHEN {r}.state IN ('failed', 'skipped', 'gone')"
            f" THEN {r}.state || '/' || coalesce({r}.reason_class, '?') END",
            sign,
        ),
        ("scope_urls", f"CASE WHEN {article} THEN {r}.scope || {_TAB} || {r}.state END", sign),
        (
            "scope_mapped",
            f"CASE WHEN {article} AND {r}.state = 'fetched' AND {r}.article_id IS NOT NULL"
            f" THEN {r}.scope END",
            sign,
        ),
    ]


def _article_deltas(r: str, sign: str) -> dict[str, str]:
    return {
        "versions": sign,
        "current": f"{sign} * {r}.is_current",
        "reverts": f"{sign} * ({r}.reverts_to IS NOT NULL)",
        "articles": f"{sign} * ({r}.id = {r}.root_id)",
    }


def _page_deltas(r: str, sign: str) -> dict[str, str]:
    return {
        "pages": sign,
        "pages_stored": f"{sign} * length({r}.body)",
        "pages_raw": f"{sign} * {r}.body_size",
    }


def _others(r: str, me: str) -> str:
    """Whether ``r``'s chain holds another URL with a hash than ``me`` (the row itself)."""
    return (
        f"({r}.content_hash IS NOT NULL AND EXISTS (SELECT 1 FROM article_urls o"
        f" WHERE o.root_id = {r}.root_id AND o.content_hash IS NOT NULL AND o.url != {me}))"
    )


def _both(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    return {name: f"({old[name]}) + ({new[name]})" for name in old}


def _trigger(name: str, event: str, table: str, body: str, when: str = "") -> str:
    cond = f" WHEN {when}" if when else ""
    return f"CREATE TRIGGER {name} AFTER {event} ON {table}{cond} BEGIN\n{body}\nEND"


_URL_FIELDS = ("state", "kind", "not_article", "reason_class", "scope", "article_id")
_ARTICLE_FIELDS = ("is_current", "reverts_to", "root_id")

# A hashed URL joining its chain adds one to ``urls_collapsed`` when the chain holds another
# hashed URL, leaving it takes one away (AFTER triggers: the others are every row but ``me``).
TRIGGERS: tuple[str, ...] = (
    _trigger("counts_pages_ins", "INSERT", "pages", _add(_page_deltas("NEW", "1"))),
    _trigger("counts_pages_del", "DELETE", "pages", _add(_page_deltas("OLD", "-1"))),
    _trigger(
        "counts_pages_upd",
        "UPDATE OF body, body_size",
        "pages",
        _add(_both(_page_deltas("OLD", "-1"), _page_deltas("NEW", "1"))),
    ),
    _trigger("counts_articles_ins", "INSERT", "articles", _add(_article_deltas("NEW", "1"))),
    _trigger("counts_articles_del", "DELETE", "articles", _add(_article_deltas("OLD", "-1"))),
    _trigger(
        "counts_articles_upd",
        f"UPDATE OF {', '.join(_ARTICLE_FIELDS)}",
        "articles",
        _add(_both(_article_deltas("OLD", "-1"), _article_deltas("NEW", "1"))),
        " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f in (*_ARTICLE_FIELDS, "id")),
    ),
    _trigger(
        "counts_article_urls_ins",
        "INSERT",
        "article_urls",
        _add({"article_urls": "1", "urls_collapsed": _others("NEW", "NEW.url")}),
    ),
    _trigger(
        "counts_article_urls_del",
        "DELETE",
        "article_urls",
        _add({"article_urls": "-1", "urls_collapsed": "-" + _others("OLD", "OLD.url")}),
    ),
    _trigger(
        "counts_article_urls_upd",
        "UPDATE OF content_hash, root_id, url",
        "article_urls",
        _add({"urls_collapsed": f"{_others('NEW', 'NEW.url')} - {_others('OLD', 'NEW.url')}"}),
        "OLD.content_hash IS NOT NEW.content_hash OR OLD.root_id IS NOT NEW.root_id"
        " OR OLD.url IS NOT NEW.url",
    ),
    _trigger("counts_urls_ins", "INSERT", "urls", _keyed(_url_bumps("NEW", "1"))),
    _trigger("counts_urls_del", "DELETE", "urls", _keyed(_url_bumps("OLD", "-1"))),
    _trigger(
        "counts_urls_upd",
        f"UPDATE OF {', '.join(_URL_FIELDS)}",
        "urls",
        _keyed(_url_bumps("OLD", "-1") + _url_bumps("NEW", "1")),
        " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f in _URL_FIELDS),
    ),
    _trigger(
        "counts_failures_ins", "INSERT", "failures", _keyed([("failures", "NEW.reason", "1")])
    ),
    _trigger(
        "counts_failures_del", "DELETE", "failures", _keyed([("failures", "OLD.reason", "-1")])
    ),
    _trigger(
        "counts_failures_upd",
        "UPDATE OF reason",
        "failures",
        _keyed([("failures", "OLD.reason", "-1"), ("failures", "NEW.reason", "1")]),
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

# Migration 7: the current versions of each site. Separate triggers (and not a change to the
# ones above) so that migration 6 stays what it was when files were migrated by it.
_SITE_CURRENT = "CASE WHEN {r}.is_current = 1 THEN {r}.site END"
SITE_TRIGGERS: tuple[str, ...] = (
    _trigger(
        "counts_articles_site_ins",
        "INSERT",
        "articles",
        _keyed([("current_site", _SITE_CURRENT.format(r="NEW"), "1")]),
        "NEW.is_current = 1",
    ),
    _trigger(
        "counts_articles_site_del",
        "DELETE",
        "articles",
        _keyed([("current_site", _SITE_CURRENT.format(r="OLD"), "-1")]),
        "OLD.is_current = 1",
    ),
    _trigger(
        "counts_articles_site_upd",
        "UPDATE OF is_current, site",
        "articles",
        _keyed(
            [
                ("current_site", _SITE_CURRENT.format(r="OLD"), "-1"),
                ("current_site", _SITE_CURRENT.format(r="NEW"), "1"),
            ]
        ),
        "OLD.is_current IS NOT NEW.is_current OR OLD.site IS NOT NEW.site",
    ),
)
RECOUNT_SITE = (
    "SELECT 'current_site', site, count(*) FROM articles WHERE is_current = 1 GROUP BY site",
)
SITE_MIGRATION: tuple[str, ...] = (
    *(f"INSERT INTO counts (name, key, n) {sql}" for sql in RECOUNT_SITE),
    *SITE_TRIGGERS,
)


def recount(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Every counter counted again from the tables (slow: the reference for tests)."""
    out: dict[tuple[str, str], int] = {}
    for sql in (*RECOUNT, *RECOUNT_SITE):
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
