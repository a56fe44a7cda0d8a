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

The reader connection reads one snapshot (a read transaction) while a crawler keeps writing:
first the ``seq``/hash of every matching row, then full rows only for the files to write, in
chunks, so memory stays flat whatever the corpus size.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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
_TEMP_RE = re.compile(r"^\.\d{3,}_[0-9a-f]{16}\.txt\.\d+\.tmp$")
_CHUNK = 500
_FLUSH_EVERY = 256


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
    missing ones restored, superseded or unknown ones removed, manifest lines refreshed."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise translate_os_error(exc, out_dir) from exc
    with _locked(out_dir):
        _remove_stale_temps(out_dir)
        manifest_path = out_dir / MANIFEST_NAME
        listed = _read_manifest(manifest_path)
        on_disk = {entry.name for entry in os.scandir(out_dir) if FILE_NAME_RE.match(entry.name)}
        try:
            conn.execute("BEGIN")  # one snapshot for every pass over the rows
            try:
                report = _export_snapshot(conn, out_dir, manifest_path, listed, on_disk, filt)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise translate_sqlite_error(exc, _db_path(conn)) from exc
        _fsync_dir(out_dir)
    return report


def _export_snapshot(
    conn: sqlite3.Connection,
    out_dir: Path,
    manifest_path: Path,
    listed: list[dict[str, Any]],
    on_disk: set[str],
    filt: ExportFilter,
) -> ExportReport:
    where, params = _where(filt)
    matching = {
        corpus_file_name(row["seq"], row["content_hash"]): row["seq"]
        for row in conn.execute(
            "SELECT a.seq, a.content_hash FROM articles a" + where + " ORDER BY a.seq", params
        )
    }
    # What the folder keeps: the matching versions, and the listed ones still current (or
    # still wanted, with include_superseded). Their manifest entries as they are now.
    entries = _entries(conn, include_superseded=filt.include_superseded)
    listed_names = {str(entry["file"]) for entry in listed}
    keep = {name: entries[name] for name in (*matching, *sorted(listed_names)) if name in entries}
    todo = sorted(
        (entry["seq"], name) for name, entry in keep.items()
        if name not in on_disk or name not in listed_names
    )  # fmt: skip
    wanted_lines = [keep[name] for name in sorted(keep, key=lambda n: int(keep[n]["seq"]))]
    # Usually the listed lines are the start of the wanted ones (new versions only): each new
    # line is appended after its file is in place, so a run that fails half way (a full disk)
    # keeps what it wrote listed. Otherwise the manifest is replaced at once after the files.
    appending = wanted_lines[: len(listed)] == listed
    new_lines = {str(entry["file"]): entry for entry in wanted_lines[len(listed) :]}
    written = restored = removed = 0
    try:
        with (
            _directory(out_dir) as dir_fd,
            open(manifest_path, "a", encoding="utf-8") as manifest,
        ):
            for start in range(0, len(todo), _CHUNK):
                chunk = [seq for seq, _ in todo[start : start + _CHUNK]]
                rows = conn.execute(
                    "SELECT seq, content_hash, text FROM articles"
                    f" WHERE seq IN ({marks(len(chunk))}) ORDER BY seq",
                    chunk,
                ).fetchall()
                for row in rows:
                    name = corpus_file_name(row["seq"], row["content_hash"])
                    _write_atomically(dir_fd, name, str(row["text"]).encode("utf-8"))
                    if name in listed_names:
                        restored += 1
                        continue
                    written += 1
                    if appending:
                        manifest.write(json.dumps(new_lines[name], ensure_ascii=False) + "\n")
                        if written % _FLUSH_EVERY == 0:
                            manifest.flush()
            manifest.flush()
            os.fsync(manifest.fileno())
            if not appending:
                body = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in wanted_lines)
                _write_atomically(dir_fd, MANIFEST_NAME, body.encode("utf-8"))
            # Files the manifest stopped listing go last.
            for name in sorted((on_disk | listed_names) - set(keep)):
                with suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
                removed += 1
    except OSError as exc:
        _cut_torn_tail(manifest_path)
        failed = getattr(exc, "filename", None)  # relative to out_dir for the corpus files
        failed_path = out_dir / failed if isinstance(failed, str) else out_dir
        raise translate_os_error(exc, failed_path) from exc
    rewritten = set(matching) & {name for _, name in todo}
    return ExportReport(
        matched=len(matching),
        written=written,
        restored=restored,
        skipped=len(matching) - len(rewritten),
        removed=removed,
    )


_ENTRY_SQL = _ROW_SQL.replace("a.created_at, a.text,", "a.created_at, '' AS text,")


def _entries(conn: sqlite3.Connection, *, include_superseded: bool) -> dict[str, dict[str, Any]]:
    """The manifest entry of every current version (every version with ``include_superseded``),
    by file name: metadata only, texts are read for the files to write."""
    where = "" if include_superseded else " WHERE a.is_current = 1"
    return {
        (article := _article(row)).file_name: article.manifest_entry()
        for row in conn.execute(_ENTRY_SQL + where)
    }


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


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's entries in order; a torn last line (no newline) is cut off first."""
    listed: list[dict[str, Any]] = []
    try:
        with open(path, "r+b") as handle:
            good_end = 0
            for number, line in enumerate(handle, start=1):
                if not line.endswith(b"\n"):
                    break  # torn by a crash: dropped below
                try:
                    entry = json.loads(line)
                    name = entry["file"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ExportError(
                        path, f"manifest line {number} is not an entry ({exc})"
                    ) from exc
                if not isinstance(name, str) or not FILE_NAME_RE.match(name):
                    raise ExportError(path, f"manifest line {number} names no corpus file")
                listed.append(entry)
                good_end += len(line)
            if handle.seek(0, os.SEEK_END) != good_end:
                handle.truncate(good_end)
    except FileNotFoundError:
        return listed
    except OSError as exc:
        raise translate_os_error(exc, path) from exc
    return listed


def _remove_stale_temps(out_dir: Path) -> None:
    """Temporary files left by a killed export (the lock says no export is running)."""
    for entry in os.scandir(out_dir):
        if _TEMP_RE.match(entry.name):
            os.unlink(entry.path)


@contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
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
        yield
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
