"""The corpus export: one ``{seq:03d}_{hash16}.txt`` per article version, plus a manifest.

A file holds exactly the article's ``text`` (UTF-8, no trailing newline), like the seeds. Its name
is built only from ``seq`` and the content hash (checked to be hex), so nothing a page says can
choose a path. ``DIR/manifest.jsonl`` gets one JSON line per file, in ``seq`` order, after the
file is in place; the manifest is therefore the export's state.

The folder always equals a fresh export (with the same options) into an empty folder: a later
run writes the versions the manifest lacks, rewrites a listed file that went missing without
listing it twice, refreshes lines whose metadata changed (a new alias), and takes superseded
versions out: first the new manifest (appended to, or replaced at once by a rename when a line
must go or change), then their files. Files are written under a temporary name in the same
directory and renamed, so a reader never sees half a file. A torn last manifest line (a crash
mid-write) is cut off at the next run. ``DIR/.export.lock`` keeps two exports out of one
directory.

The reader connection reads one snapshot (a read transaction) while a crawler keeps writing.
An export that finds the folder as the previous one left it (the watermark in the lock file:
the database, the highest change number and ``seq`` exported, the folder's and manifest's
stamps) reads only the chains in the change log above it, and splices the manifest: each
changed ``seq`` found by a binary search over its ordered lines, the runs between copied by the
kernel. Otherwise (first run, other filters, a file deleted, the manifest
edited) the full export runs: the folder and manifest are read into compact tables by ``seq``,
the rows are streamed in ``seq`` order and full rows read only for the files to write, so
memory stays flat whatever the corpus size (issue 17).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vksnd.storage.columns import marks, strings_from_json
from vksnd.storage.errors import ExportError, translate_os_error, translate_sqlite_error
from vksnd.storage.records import (
    ExportedArticle,
    ExportFilter,
    ExportReport,
    corpus_file_name,
)

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".export.lock"
FILE_NAME_RE = re.compile(r"^\d{3,}_[0-9a-f]{16}\.txt$")
_TEMP_RE = re.compile(r"^\.(\d{3,}_[0-9a-f]{16}\.txt|manifest\.jsonl)\.\d+\.tmp$")
_CHUNK = 500
_FLUSH_EVERY = 256
_COPY_STEP = 1 << 22


def _link(seq: int | None, digest: str | None) -> str | None:
    return None if seq is None or digest is None else corpus_file_name(seq, digest)


_ROW_SQL = """
SELECT a.seq, a.content_hash, a.canonical_url, a.title, a.published_at, a.author, a.category,
       a.captions, a.images, a.extractor, a.is_current, a.created_at, a.text, a.site,
       prev.seq AS prev_seq, prev.content_hash AS prev_hash,
       next.seq AS next_seq, next.content_hash AS next_hash,
       rev.seq AS rev_seq, rev.content_hash AS rev_hash,
       (SELECT json_group_array(url)
          FROM (SELECT url FROM article_urls WHERE root_id = a.root_id ORDER BY url)) AS urls
FROM articles a
LEFT JOIN articles prev ON prev.id = a.supersedes
LEFT JOIN articles next ON next.id = a.superseded_by
LEFT JOIN articles rev ON rev.id = a.reverts_to
"""


def _where(filt: ExportFilter) -> tuple[str, list[Any]]:
    clauses = ["a.seq > ?"]
    params: list[Any] = [filt.after_seq if filt.after_seq is not None else -1]
    if not filt.include_superseded:
        clauses.append("a.is_current = 1")
    if filt.since is not None:
        # The local publication day as the portal shows it; undated articles by storage day.
        clauses.append("substr(coalesce(a.published_at, a.created_at), 1, 10) >= ?")
        params.append(filt.since.isoformat())
    if filt.site is not None:
        clauses.append("a.site = ?")
        params.append(filt.site)
    return " WHERE " + " AND ".join(clauses), params


def _article(row: sqlite3.Row) -> ExportedArticle:
    urls: list[str] = json.loads(row["urls"]) if row["urls"] else []
    canonical = row["canonical_url"]
    return ExportedArticle(
        seq=row["seq"],
        content_hash=row["content_hash"],
        canonical_url=canonical,
        aliases=tuple(u for u in urls if u != canonical),
        title=row["title"],
        published_at=row["published_at"],
        author=row["author"],
        category=row["category"],
        captions=strings_from_json(row["captions"]),
        images=strings_from_json(row["images"]),
        extractor=row["extractor"],
        is_current=bool(row["is_current"]),
        stored_at=row["created_at"],
        text=row["text"],
        supersedes=_link(row["prev_seq"], row["prev_hash"]),
        superseded_by=_link(row["next_seq"], row["next_hash"]),
        reverts_to=_link(row["rev_seq"], row["rev_hash"]),
        site=row["site"],
    )


def iter_articles(
    conn: sqlite3.Connection, filt: ExportFilter, limit: int | None = None
) -> Iterator[ExportedArticle]:
    """Matching versions in ``seq`` order (the first ``limit``), streamed from one query."""
    where, params = _where(filt)
    if limit is not None:
        where += " ORDER BY a.seq LIMIT ?"
        params.append(limit)
    else:
        where += " ORDER BY a.seq"
    try:
        for row in conn.execute(_ROW_SQL + where, params):
            yield _article(row)
    except sqlite3.Error as exc:
        raise translate_sqlite_error(exc, _db_path(conn)) from exc


def article_by_seq(conn: sqlite3.Connection, seq: int) -> ExportedArticle | None:
    """The version numbered ``seq``, superseded or not."""
    try:
        row = conn.execute(_ROW_SQL + " WHERE a.seq = ?", (seq,)).fetchone()
    except sqlite3.Error as exc:
        raise translate_sqlite_error(exc, _db_path(conn)) from exc
    return None if row is None else _article(row)


def export_jsonl(conn: sqlite3.Connection, stream: IO[str], filt: ExportFilter) -> int:
    """One JSON object per version (text included) per line; returns how many."""
    count = 0
    for article in iter_articles(conn, filt):
        stream.write(json.dumps(article.manifest_entry(with_text=True), ensure_ascii=False))
        stream.write("\n")
        count += 1
    return count


def export_corpus(conn: sqlite3.Connection, out_dir: Path, filt: ExportFilter) -> ExportReport:
    """Bring ``out_dir`` to what a fresh export into an empty folder would write (plus the files
    of still-current versions an earlier export with other filters wrote): new files written,
    missing ones restored, superseded or unknown ones removed, manifest lines refreshed.

    When the folder is as the last export of this database left it (its watermark, below), only
    the article chains changed since are read: the cost follows the changes, not the corpus."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise translate_os_error(exc, out_dir) from exc
    db = _db_path(conn)
    with _locked(out_dir) as lock_fd:
        mark = _read_mark(lock_fd, out_dir, db, filt)
        manifest_path = out_dir / MANIFEST_NAME
        try:
            conn.execute("BEGIN")  # one snapshot for every pass over the rows
            try:
                top_change, top_seq = _tops(conn)
                if mark is not None and top_change >= mark.change and top_seq >= mark.seq:
                    report = _export_changes(conn, out_dir, manifest_path, filt, mark)
                else:
                    _remove_stale_temps(out_dir)
                    report = _export_snapshot(conn, out_dir, manifest_path, filt, top_seq)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, _db_path(conn)) from exc
        _fsync_dir(out_dir)
        if _markable(filt):
            _write_mark(lock_fd, out_dir, _Mark(db, filt.include_superseded, top_change, top_seq))
    return report


# -- the watermark: what the last export of this database saw ------------------------------
#
# Kept in the lock file (already there, already opened by every export; nothing else in the
# folder): the database, the filter, the highest change number (``changes.change``) and
# ``seq`` of the snapshot exported, and the manifest's and the folder's size/mtime as that
# export left them. A folder touched since (a file deleted or added, the manifest edited or
# torn, a killed export's temporary files) no longer matches and gets the full export, which
# repairs it. The lock file is rewritten in place, which does not change the folder's mtime.


@dataclass(frozen=True, slots=True)
class _Mark:
    db: str
    include_superseded: bool
    change: int
    seq: int


def _markable(filt: ExportFilter) -> bool:
    return filt.after_seq is None and filt.since is None


def _folder_stamp(out_dir: Path) -> list[int]:
    folder = os.stat(out_dir)
    try:
        manifest = os.stat(out_dir / MANIFEST_NAME)
        sizes = [manifest.st_size, manifest.st_mtime_ns, manifest.st_ino]
    except FileNotFoundError:
        sizes = [-1, -1, -1]
    return [folder.st_mtime_ns, *sizes]


def _read_mark(lock_fd: int, out_dir: Path, db: str, filt: ExportFilter) -> _Mark | None:
    """The last export's watermark, if it still describes this folder for this filter."""
    if not _markable(filt):
        return None
    try:
        raw = os.pread(lock_fd, 4096, 0)
        data = json.loads(raw) if raw else None
        if not isinstance(data, dict) or data.get("v") != 1:
            return None
        mark = _Mark(
            str(data["db"]), bool(data["include_superseded"]), int(data["change"]), int(data["seq"])
        )
        stamp = [int(x) for x in data["stamp"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: the full export rewrites it
    if mark.db != db or mark.include_superseded != filt.include_superseded:
        return None
    return mark if stamp == _folder_stamp(out_dir) else None


def _write_mark(lock_fd: int, out_dir: Path, mark: _Mark) -> None:
    data = {
        "v": 1,
        "db": mark.db,
        "include_superseded": mark.include_superseded,
        "change": mark.change,
        "seq": mark.seq,
        "stamp": _folder_stamp(out_dir),
    }
    body = json.dumps(data).encode()
    try:
        if os.pread(lock_fd, len(body) + 1, 0) == body:
            return  # nothing changed: the folder is left exactly as it was, lock file too
        os.ftruncate(lock_fd, 0)  # a torn write reads as no mark: the next run is a full one
        os.pwrite(lock_fd, body, 0)
        os.fsync(lock_fd)
    except OSError as exc:
        raise translate_os_error(exc, out_dir / LOCK_NAME) from exc


def _tops(conn: sqlite3.Connection) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT coalesce(max(change), 0) FROM changes) AS change,"
        " (SELECT coalesce(max(seq), -1) FROM articles) AS seq"
    ).fetchone()
    return int(row["change"]), int(row["seq"])


_CHANGED_SQL = """
SELECT root_id FROM changes WHERE change > ? ORDER BY change
"""


def _export_changes(
    conn: sqlite3.Connection,
    out_dir: Path,
    manifest_path: Path,
    filt: ExportFilter,
    mark: _Mark,
) -> ExportReport:
    """Only the chains changed since ``mark``: their new versions written, their superseded
    ones removed, their manifest lines refreshed. A version with ``seq <= mark.seq`` that is
    current now was current then (versions only ever stop being current), so it is on disk."""
    roots = [int(row["root_id"]) for row in conn.execute(_CHANGED_SQL, (mark.change,))]
    fresh: list[dict[str, Any]] = []  # manifest lines to (re)write, by seq
    to_write: list[int] = []  # seqs of new files
    dropped: set[str] = set()  # listed lines replaced or removed
    to_remove: list[str] = []
    for start in range(0, len(roots), _CHUNK):
        chunk = roots[start : start + _CHUNK]
        for row in conn.execute(_ENTRY_SQL + f" WHERE a.root_id IN ({marks(len(chunk))})", chunk):
            article = _article(row)
            wanted = filt.include_superseded or article.is_current
            name = article.file_name
            if article.seq <= mark.seq:
                dropped.add(name)
                if not wanted:
                    to_remove.append(name)
            elif wanted:
                to_write.append(article.seq)
            if wanted:
                fresh.append(article.manifest_entry())
    fresh.sort(key=lambda entry: int(entry["seq"]))
    to_write.sort()
    written = removed = 0
    try:
        with _directory(out_dir) as dir_fd:
            for start in range(0, len(to_write), _CHUNK):
                chunk = to_write[start : start + _CHUNK]
                for row in conn.execute(
                    "SELECT seq, content_hash, text FROM articles"
                    f" WHERE seq IN ({marks(len(chunk))}) ORDER BY seq",
                    chunk,
                ):
                    name = corpus_file_name(row["seq"], row["content_hash"])
                    _write_atomically(dir_fd, name, str(row["text"]).encode("utf-8"))
                    written += 1
            if dropped:
                _splice_manifest(dir_fd, manifest_path, dropped, fresh)
            elif fresh:
                with open(manifest_path, "a", encoding="utf-8") as manifest:
                    manifest.write("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in fresh))
                    manifest.flush()
                    os.fsync(manifest.fileno())
            for name in sorted(to_remove):  # files the manifest stopped listing go last
                with suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
                    removed += 1
    except OSError as exc:
        _cut_torn_tail(manifest_path)
        failed = getattr(exc, "filename", None)
        failed_path = out_dir / failed if isinstance(failed, str) else out_dir
        raise translate_os_error(exc, failed_path) from exc
    matched = _counter(conn, "versions" if filt.include_superseded else "current")
    return ExportReport(
        matched=matched, written=written, restored=0, skipped=matched - written, removed=removed
    )


def _counter(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(
        "SELECT coalesce(sum(n), 0) AS n FROM counts WHERE name = ?", (name,)
    ).fetchone()
    return int(row["n"])


_LINE_HEAD = b'{"file": "'


def _line_name(line: bytes) -> str:
    """The file a manifest line lists, read without parsing the line (every line this module
    writes starts with its ``file``); any other line is parsed."""
    if line.startswith(_LINE_HEAD):
        end = line.find(b'"', len(_LINE_HEAD))
        if end > 0:
            return line[len(_LINE_HEAD) : end].decode("ascii", "replace")
    try:
        return str(json.loads(line)["file"])
    except (ValueError, KeyError, TypeError):
        return ""


def _splice_manifest(
    dir_fd: int, manifest_path: Path, dropped: set[str], fresh: list[dict[str, Any]]
) -> None:
    """The manifest with the ``dropped`` lines taken out and the ``fresh`` ones put in ``seq``
    order, written into a temporary file renamed over it (never half of it).

    Only the lines around a change are looked at: each changed ``seq`` is found by a binary
    search over the ``seq``-ordered lines and the runs between changes are copied as they are,
    so a million-line manifest with a thousand changes costs a copy of its bytes, not a
    million parsed lines (issue 17). A line whose file name has no ``seq`` (not one this
    module wrote) sends the whole splice the line-by-line way."""
    temp = f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    try:
        with open(fd, "wb", buffering=1 << 20) as out, open(manifest_path, "rb") as old:
            try:
                _splice_by_search(old, out, dropped, fresh)
            except _NoSeq:
                old.seek(0)
                out.seek(0)
                out.truncate()
                _splice_by_line(old, out, dropped, fresh)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, MANIFEST_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


class _NoSeq(Exception):
    """A manifest line whose file name does not start with a ``seq``."""


def _name_seq(name: str) -> int | None:
    """The ``seq`` a corpus file name starts with, None for any other name."""
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else None


def _line_seq(line: bytes) -> int:
    seq = _name_seq(_line_name(line))
    if seq is None:
        raise _NoSeq(line[:80])
    return seq


def _entry_line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")


class _LineReader:
    """Lines of a file read by ``pread`` at any offset (not ``mmap``: every page a mapping
    touches, and the kernel's read-around beside it, counts in the process's RSS)."""

    _STEP = 4_096

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def line_at(self, start: int) -> bytes:
        """The line starting at ``start``, its newline included (none at the file's end)."""
        pieces: list[bytes] = []
        at = start
        while at < self.size:
            piece = os.pread(self.fd, self._STEP, at)
            if not piece:
                break
            newline = piece.find(b"\n")
            if newline >= 0:
                pieces.append(piece[: newline + 1])
                break
            pieces.append(piece)
            at += len(piece)
        return b"".join(pieces)

    def start_of_line(self, floor: int, at: int) -> int:
        """The start of the line holding offset ``at``, not before ``floor`` (a line start)."""
        end = at
        while end > floor:
            begin = max(floor, end - self._STEP)
            newline = os.pread(self.fd, end - begin, begin).rfind(b"\n")
            if newline >= 0:
                return begin + newline + 1
            end = begin
        return floor


def _splice_by_search(
    old: IO[bytes], out: IO[bytes], dropped: set[str], fresh: list[dict[str, Any]]
) -> None:
    size = os.fstat(old.fileno()).st_size
    dropped_seqs = (_name_seq(name) for name in dropped)
    changed = sorted(
        {seq for seq in dropped_seqs if seq is not None} | {int(entry["seq"]) for entry in fresh}
    )
    lines = _LineReader(old.fileno(), size)
    pending = iter(fresh)
    nxt = next(pending, None)
    pos = 0  # everything before pos is written; pos is a line's start
    for seq in changed:
        # the first line at or after pos whose seq is >= seq: lines are in seq order
        lo, hi = pos, size
        while lo < hi:
            start = lines.start_of_line(lo, (lo + hi) // 2)
            line = lines.line_at(start)
            if _line_seq(line) < seq:
                lo = start + len(line)
            else:
                hi = start
        _copy_range(old, out, pos, lo)
        pos = lo
        # the lines of this seq, as the line-by-line merge treats them
        while pos < size:
            line = lines.line_at(pos)
            end = pos + len(line)
            line_seq = _line_seq(line)
            if line_seq > seq:
                break
            while nxt is not None and int(nxt["seq"]) < line_seq:
                out.write(_entry_line(nxt))
                nxt = next(pending, None)
            if _line_name(line) not in dropped:
                out.write(line)
            pos = end
        while nxt is not None and int(nxt["seq"]) <= seq:
            out.write(_entry_line(nxt))
            nxt = next(pending, None)
    _copy_range(old, out, pos, size)
    while nxt is not None:
        out.write(_entry_line(nxt))
        nxt = next(pending, None)


def _copy_range(old: IO[bytes], out: IO[bytes], start: int, end: int) -> None:
    """Bytes ``start:end`` of ``old`` appended to ``out``: by the kernel (``copy_file_range``,
    no pass through Python's memory) where the file system allows it, else in slices."""
    if end <= start:
        return
    out.flush()
    at = start
    try:
        while at < end:
            copied = os.copy_file_range(old.fileno(), out.fileno(), end - at, offset_src=at)
            if copied == 0:
                break
            at += copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while at < end:  # what the kernel did not copy
        piece = os.pread(old.fileno(), min(_COPY_STEP, end - at), at)
        if not piece:
            break
        out.write(piece)
        at += len(piece)


def _splice_by_line(
    old: IO[bytes], out: IO[bytes], dropped: set[str], fresh: list[dict[str, Any]]
) -> None:
    """The long way: every line read and its name compared (any manifest)."""
    pending = iter(fresh)
    nxt = next(pending, None)
    for line in old:
        name = _line_name(line)
        if name in dropped:
            continue
        seq = _name_seq(name)
        seq = -1 if seq is None else seq
        while nxt is not None and int(nxt["seq"]) < seq:
            out.write(_entry_line(nxt))
            nxt = next(pending, None)
        out.write(line)
    while nxt is not None:
        out.write(_entry_line(nxt))
        nxt = next(pending, None)


class _Names:
    """Corpus file names by ``seq``, in 8 bytes each (the hash's first 16 hex digits): a
    million names in 8 MB where a set of strings took ~100 MB. A second name for a ``seq``
    (another database's file) goes to ``odd``."""

    def __init__(self, top_seq: int) -> None:
        self.top = top_seq
        self.slots = bytearray(8 * (top_seq + 1))
        self.odd: set[str] = set()

    def add(self, name: str) -> None:
        seq, digest = _split(name)
        if 0 <= seq <= self.top and digest != _EMPTY:
            at = 8 * seq
            if self.slots[at : at + 8] == _EMPTY:
                self.slots[at : at + 8] = digest
                return
            if self.slots[at : at + 8] == digest:
                return
        self.odd.add(name)

    def has(self, seq: int, digest: bytes) -> bool:
        if 0 <= seq <= self.top and self.slots[8 * seq : 8 * seq + 8] == digest:
            return True
        return bool(self.odd) and corpus_file_name(seq, digest.hex()) in self.odd

    def names(self, seq: int) -> str | None:
        at = 8 * seq
        digest = bytes(self.slots[at : at + 8])
        return None if digest == _EMPTY else corpus_file_name(seq, digest.hex())


_EMPTY = bytes(8)


def _split(name: str) -> tuple[int, bytes]:
    """``seq`` and hash of a corpus file name (already matched by ``FILE_NAME_RE``)."""
    seq, _, rest = name.partition("_")
    return int(seq), bytes.fromhex(rest[:16])


def _export_snapshot(
    conn: sqlite3.Connection,
    out_dir: Path,
    manifest_path: Path,
    filt: ExportFilter,
    top_seq: int,
) -> ExportReport:
    """The full export, streamed: the folder and manifest are read into compact tables by
    ``seq``, the rows in ``seq`` order, and nothing holds the corpus in memory (issue 17)."""
    top = max(top_seq, 0)
    on_disk = _Names(top)
    for entry in os.scandir(out_dir):
        if FILE_NAME_RE.match(entry.name):
            on_disk.add(entry.name)
    listed = _Names(top)
    listed_lines = _scan_manifest(manifest_path, listed.add)
    # What the folder keeps: the matching versions, and the listed ones still current (or
    # still wanted, with include_superseded), by seq with their hash.
    kept = _Names(top)
    todo: array[int] = array("q")
    matched = rewritten = 0
    where, params = _where(filt)
    matches = where.removeprefix(" WHERE ")
    scope = "" if filt.include_superseded else " WHERE a.is_current = 1"
    for row in conn.execute(
        f"SELECT a.seq, a.content_hash, ({matches}) AS matches FROM articles a{scope}"
        " ORDER BY a.seq",
        params,
    ):
        seq, digest = int(row["seq"]), bytes.fromhex(str(row["content_hash"])[:16])
        was_listed = listed.has(seq, digest)
        if row["matches"]:
            matched += 1
        elif not was_listed:
            continue
        kept.add(corpus_file_name(seq, row["content_hash"]))
        if not was_listed or not on_disk.has(seq, digest):
            todo.append(seq)
            rewritten += bool(row["matches"])
    # Usually the listed lines are the start of the wanted ones (new versions only): each new
    # line is appended after its file is in place, so a run that fails half way (a full disk)
    # keeps what it wrote listed. Otherwise the manifest is replaced at once after the files.
    appending = listed_lines == 0 or _manifest_is_prefix(conn, manifest_path, kept, filt)
    written = restored = removed = 0
    try:
        with (
            _directory(out_dir) as dir_fd,
            open(manifest_path, "a", encoding="utf-8") as manifest,
        ):
            for start in range(0, len(todo), _CHUNK):
                chunk = list(todo[start : start + _CHUNK])
                rows = conn.execute(
                    _ROW_SQL + f" WHERE a.seq IN ({marks(len(chunk))}) ORDER BY a.seq", chunk
                )
                for row in rows:
                    article = _article(row)
                    name = article.file_name
                    _write_atomically(dir_fd, name, article.text.encode("utf-8"))
                    if listed.has(article.seq, bytes.fromhex(article.content_hash[:16])):
                        restored += 1
                        continue
                    written += 1
                    if appending:
                        line = json.dumps(article.manifest_entry(), ensure_ascii=False)
                        manifest.write(line + "\n")
                        if written % _FLUSH_EVERY == 0:
                            manifest.flush()
            manifest.flush()
            os.fsync(manifest.fileno())
            if not appending:
                _rewrite_manifest(conn, dir_fd, kept, filt)
            # Files the manifest stopped listing go last.
            removed = _remove_unkept(dir_fd, on_disk, listed, kept)
    except OSError as exc:
        _cut_torn_tail(manifest_path)
        failed = getattr(exc, "filename", None)  # relative to out_dir for the corpus files
        failed_path = out_dir / failed if isinstance(failed, str) else out_dir
        raise translate_os_error(exc, failed_path) from exc
    return ExportReport(
        matched=matched,
        written=written,
        restored=restored,
        skipped=matched - rewritten,
        removed=removed,
    )


_ENTRY_SQL = _ROW_SQL.replace("a.created_at, a.text,", "a.created_at, '' AS text,")


def _kept_entries(
    conn: sqlite3.Connection, kept: _Names, filt: ExportFilter
) -> Iterator[dict[str, Any]]:
    """The manifest entries of the kept versions, in ``seq`` order (metadata only)."""
    scope = "" if filt.include_superseded else " WHERE a.is_current = 1"
    for row in conn.execute(_ENTRY_SQL + scope + " ORDER BY a.seq"):
        if kept.has(int(row["seq"]), bytes.fromhex(str(row["content_hash"])[:16])):
            yield _article(row).manifest_entry()


def _manifest_is_prefix(
    conn: sqlite3.Connection, manifest_path: Path, kept: _Names, filt: ExportFilter
) -> bool:
    """Whether the manifest's lines are the first of the wanted ones, each as it would be
    written now (compared as parsed entries, streamed side by side)."""
    with open(manifest_path, "rb") as old:
        wanted = _kept_entries(conn, kept, filt)
        for line in old:
            entry = next(wanted, None)
            if entry is None or json.loads(line) != entry:
                return False
    return True


def _rewrite_manifest(
    conn: sqlite3.Connection, dir_fd: int, kept: _Names, filt: ExportFilter
) -> None:
    temp = f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        with open(fd, "w", encoding="utf-8", buffering=1 << 20) as out:
            for entry in _kept_entries(conn, kept, filt):
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, MANIFEST_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


def _remove_unkept(dir_fd: int, on_disk: _Names, listed: _Names, kept: _Names) -> int:
    """Unlink every corpus file on disk or listed that is not kept; how many names went."""
    gone: list[str] = []
    for seq in range(on_disk.top + 1):
        for table in (on_disk, listed):
            name = table.names(seq)
            if name is not None and not kept.has(*_split(name)):
                gone.append(name)
    gone.extend(n for n in on_disk.odd | listed.odd if not kept.has(*_split(n)))
    unique = sorted(set(gone))
    for name in unique:
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
    return len(unique)


def _cut_torn_tail(path: Path, block: int = 65_536) -> None:
    """After a failed append (disk full) the manifest keeps whole lines only, so a reader never
    sees half an entry; the next run relists what was cut. Best effort: the disk may refuse."""
    with suppress(OSError), open(path, "r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        keep = end
        while keep > 0:
            start = max(0, keep - block)
            handle.seek(start)
            newline = handle.read(keep - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            keep = start
        if keep != end:
            handle.truncate(keep)


@contextmanager
def _directory(path: Path) -> Iterator[int]:
    """A descriptor of the output folder: files are created and renamed relative to it, so
    the kernel does not walk the whole path again for each of the thousands of files."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def _write_atomically(dir_fd: int, name: str, data: bytes) -> None:
    """``name`` in the folder ``dir_fd`` holds ``data`` whole, or is left as it was."""
    temp = f".{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    fd = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):  # a full disk: no half temporary left behind either
            os.unlink(temp, dir_fd=dir_fd)
        raise


def _scan_manifest(path: Path, each: Callable[[str], None]) -> int:
    """Call ``each`` with every file the manifest lists, in order; returns how many lines. A
    torn last line (no newline) is cut off first; any other bad line is an error."""
    count = 0
    try:
        with open(path, "r+b") as handle:
            good_end = 0
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):
                    break  # torn by a crash: dropped below
                try:
                    name = json.loads(line)["file"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ExportError(
                        path, f"manifest line {number} is not an entry ({exc})"
                    ) from exc
                if not isinstance(name, str) or not FILE_NAME_RE.match(name):
                    raise ExportError(path, f"manifest line {number} names no corpus file")
                each(name)
                count += 1
                good_end += len(line)
            if handle.seek(0, os.SEEK_END) != good_end:
                handle.truncate(good_end)
    except FileNotFoundError:
        return count
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    return count


def _remove_stale_temps(out_dir: Path) -> None:
    """Temporary files left by a killed export (the lock says no export is running)."""
    for entry in os.scandir(out_dir):
        if _TEMP_RE.match(entry.name):
            os.unlink(entry.path)


@contextmanager
def _locked(out_dir: Path) -> Iterator[int]:
    path = out_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ExportError(out_dir, "another export is writing into this directory") from exc
        yield fd
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _db_path(conn: sqlite3.Connection) -> str:
    """The file behind ``conn``, for error messages."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row["file"]) if row else "<database>"


def export_jsonl_file(conn: sqlite3.Connection, path: Path, filt: ExportFilter) -> int:
    """``export_jsonl`` into ``path``, written under a temporary name and renamed at the end."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "w", encoding="utf-8") as stream:
            count = export_jsonl(conn, stream, filt)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise translate_os_error(exc, path) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return count
