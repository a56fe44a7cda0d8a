"""Dedupe and versioning decisions, as pure code over a snapshot of what is stored.

``SqliteStore`` loads the rows a batch can touch (by content hash, by URL, by article number),
then places each article here in order; this module decides and remembers, the store writes.
Keeping the decisions free of SQL makes the rules readable in one place.

The article's chain is found by its fetched URL, else its canonical URL, else the portal's article
number (``t{id}`` / ``ItemID``), so a legacy or print URL of a known article joins it. Each fetched
URL also remembers the hash it showed last. Then, with ``last`` that remembered hash:

- hash shown last at this URL                      -> UNCHANGED (even if not the current version:
  a mirror URL that still serves the text before an edit is not a change);
- hash stored, no chain or another chain           -> DUPLICATE: the URL maps to the hash's chain;
- hash stored in this chain, current               -> DUPLICATE (a new URL of the article);
- hash of an OLD version of this chain, and ``last`` was the current one: the edit was REVERTED
  -> NEW_VERSION: a new row (new ``seq``) with the old text and hash, ``reverts_to`` naming the
  old row. The history A -> B -> A stays in order and an export that already wrote B sees a new
  current file; flipping the old row back to current would hide the revert from it. Price: a
  page that flaps between two texts adds one row per flip. If ``last`` was not the current text
  the URL is a stale mirror: DUPLICATE, no new row;
- hash unknown, no chain                           -> NEW: a new chain, first version;
- hash unknown, chain found                        -> NEW_VERSION superseding the current row,
  except when the URL carries an article number different from the chain's (a URL that once
  duplicated another article now shows its own text): then NEW, and the URL moves to the new chain.

Nothing stored is changed except the ``is_current``/``superseded_by`` of a superseded version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from vksnd.parsers.records import Article
from vksnd.storage.records import StoreOutcome, StoreResult


@dataclass(slots=True)
class VersionRow:
    """What the planner needs of an ``articles`` row (mutable: it tracks supersession)."""

    id: int
    root_id: int
    seq: int
    content_hash: str
    is_current: bool
    key: str | None = None  # the portal's article number of the row, if its URL had one


@dataclass(frozen=True, slots=True)
class PlannedVersion:
    """An ``articles`` row to insert."""

    row: VersionRow
    article: Article
    fetched_url: str
    page_id: int | None
    supersedes: int | None
    reverts_to: int | None


@dataclass(slots=True)
class Snapshot:
    """The stored rows relevant to a batch (filled by the store, then grown by the planner)."""

    by_hash: dict[str, VersionRow] = field(default_factory=dict)  # current row preferred
    chain_by_url: dict[str, int] = field(default_factory=dict)
    last_hash_by_url: dict[str, str | None] = field(default_factory=dict)
    chain_by_key: dict[str, int] = field(default_factory=dict)
    current_by_chain: dict[int, VersionRow] = field(default_factory=dict)
    next_id: int = 1
    next_seq: int = 1


@dataclass(slots=True)
class VersionPlanner:
    snapshot: Snapshot
    first_new_id: int = 0
    inserts: list[PlannedVersion] = field(default_factory=list)
    superseded_by: dict[int, int] = field(default_factory=dict)  # old version id -> new id
    # fetched URLs to (re)map -> (chain, hash shown); canonical URLs mapped only if unmapped
    url_chains: dict[str, tuple[int, str]] = field(default_factory=dict)
    url_chains_if_unmapped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first_new_id = self.snapshot.next_id

    def place(
        self,
        article: Article,
        fetched_urls: Iterable[str],
        key: str | None,
        page_id: int | None,
    ) -> StoreResult:
        """Decide what ``article`` is; ``fetched_urls`` are the URLs it was fetched under."""
        snap = self.snapshot
        fetched = list(dict.fromkeys(fetched_urls))
        digest = article.content_hash
        chain = self._find_chain(fetched, article.canonical_url, key)
        known = snap.by_hash.get(digest)
        last = snap.last_hash_by_url.get(fetched[0])
        if known is not None:
            if last == digest:
                return self._map(known, StoreOutcome.UNCHANGED, fetched, article)
            if chain is None or known.root_id != chain or known.is_current:
                return self._map(known, StoreOutcome.DUPLICATE, fetched, article)
            current = snap.current_by_chain[chain]
            if last != current.content_hash:  # a stale mirror of an older version
                return self._map(known, StoreOutcome.DUPLICATE, fetched, article)
            row = self._insert(
                article, fetched[0], page_id, key, root=chain, supersedes=current, reverts=known.id
            )
            return self._map(row, StoreOutcome.NEW_VERSION, fetched, article)
        if chain is not None:
            current = snap.current_by_chain[chain]
            if key is None or current.key is None or key == current.key:
                row = self._insert(
                    article, fetched[0], page_id, key, root=chain, supersedes=current, reverts=None
                )
                return self._map(row, StoreOutcome.NEW_VERSION, fetched, article)
        row = self._insert(
            article, fetched[0], page_id, key, root=None, supersedes=None, reverts=None
        )
        return self._map(row, StoreOutcome.NEW, fetched, article)

    def _find_chain(self, fetched: list[str], canonical: str, key: str | None) -> int | None:
        snap = self.snapshot
        for url in (*fetched, canonical):
            chain = snap.chain_by_url.get(url)
            if chain is not None:
                return chain
        return snap.chain_by_key.get(key) if key is not None else None

    def _insert(
        self,
        article: Article,
        fetched_url: str,
        page_id: int | None,
        key: str | None,
        *,
        root: int | None,
        supersedes: VersionRow | None,
        reverts: int | None,
    ) -> VersionRow:
        snap = self.snapshot
        row_id = snap.next_id
        row = VersionRow(
            id=row_id,
            root_id=row_id if root is None else root,
            seq=snap.next_seq,
            content_hash=article.content_hash,
            is_current=True,
            key=key,
        )
        snap.next_id += 1
        snap.next_seq += 1
        if supersedes is not None:
            supersedes.is_current = False
            self.superseded_by[supersedes.id] = row.id
        snap.current_by_chain[row.root_id] = row
        snap.by_hash[row.content_hash] = row
        if key is not None:
            snap.chain_by_key.setdefault(key, row.root_id)
        self.inserts.append(
            PlannedVersion(
                row=row,
                article=article,
                fetched_url=fetched_url,
                page_id=page_id,
                supersedes=None if supersedes is None else supersedes.id,
                reverts_to=reverts,
            )
        )
        return row

    def _map(
        self, row: VersionRow, outcome: StoreOutcome, fetched: list[str], article: Article
    ) -> StoreResult:
        snap = self.snapshot
        for url in fetched:
            snap.chain_by_url[url] = row.root_id
            snap.last_hash_by_url[url] = row.content_hash
            self.url_chains[url] = (row.root_id, row.content_hash)
        if article.canonical_url not in snap.chain_by_url:
            snap.chain_by_url[article.canonical_url] = row.root_id
            self.url_chains_if_unmapped[article.canonical_url] = row.root_id
        return StoreResult(
            outcome=outcome, article_id=row.id, seq=row.seq, content_hash=row.content_hash
        )

    def superseded_stored_rows(self) -> list[tuple[int, int]]:
        """(old id, new id) for versions already in the database that this batch superseded."""
        return [(old, new) for old, new in self.superseded_by.items() if old < self.first_new_id]
