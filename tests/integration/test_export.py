"""The corpus export: names, exact text, manifest, idempotency, atomicity, concurrency."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import re
import sqlite3
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from support.storage import (
    article_url,
    check_invariants,
    make_article,
    make_raw,
    vietnamese_text,
)
from vksnd.parsers.hashing import content_hash
from vksnd.storage.errors import ExportError
from vksnd.storage.export import (
    LOCK_NAME,
    MANIFEST_NAME,
    export_corpus,
    export_jsonl,
    export_jsonl_file,
)
from vksnd.storage.records import ExportFilter, StoreRequest, corpus_file_name
from vksnd.storage.schema import open_reader
from vksnd.storage.sqlite import SqliteStore

NAME = re.compile(r"^\d{3,}_[0-9a-f]{16}\.txt$")


async def _fill(db: Path, count: int, seed: int = 1, start: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = [vietnamese_text(rng, 3, 30) for _ in range(count)]
    async with await SqliteStore.open(db) as store:
        await store.store_articles(
            [
                StoreRequest(
                    make_article(article_url(start + i), t), make_raw(article_url(start + i))
                )
                for i, t in enumerate(texts)
            ]
        )
    return texts


def _export(db: Path, out: Path, filt: ExportFilter | None = None):  # type: ignore[no-untyped-def]
    conn = open_reader(db)
    try:
        return export_corpus(conn, out, filt or ExportFilter())
    finally:
        conn.close()


def _manifest(out: Path) -> list[dict[str, object]]:
    lines = (out / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _corpus(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.endswith(".txt"))


async def test_names_match_the_seeds_and_carry_the_record_hash(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    texts = await _fill(db, 12)
    report = _export(db, out)
    names = _corpus(out)
    assert report.written == 12 and len(names) == 12
    by_hash = {content_hash(t): t for t in texts}
    for name, entry in zip(names, _manifest(out), strict=True):
        assert NAME.match(name), name
        assert entry["file"] == name
        seq, short = name[:-4].split("_")
        assert int(seq) == entry["seq"] and len(seq) >= 3
        assert isinstance(entry["content_hash"], str) and entry["content_hash"][:16] == short
        # the body only, byte for byte, no trailing newline
        assert (out / name).read_bytes() == by_hash[entry["content_hash"]].encode("utf-8")
    assert corpus_file_name(1234, "ab" * 32) == "1234_abababababababab.txt"
    assert corpus_file_name(7, "0123456789abcdef" * 4) == "007_0123456789abcdef.txt"


def test_a_hash_that_is_not_hex_cannot_name_a_file() -> None:
    for bad in ("../../etc/passwd", "ABCDEF0123456789", "0123456789abcde", "0123456789abcdef/x"):
        with pytest.raises(ValueError):
            corpus_file_name(1, bad)


async def test_manifest_lines_carry_metadata_and_version_links(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    url, alias = article_url(5), article_url(5) + "?Page=2"
    async with await SqliteStore.open(db) as store:
        v1 = await store.store_article(
            make_article(alias, "Bản đầu.", canonical_url=url, captions=("Ảnh: hội nghị",),
                         published_at=datetime(2024, 6, 17, 9, 30, tzinfo=UTC)),
            make_raw(alias), None, None,
        )  # fmt: skip
        v2 = await store.store_article(make_article(url, "Bản sửa."), make_raw(url), None, None)
    _export(tmp_path / "v.db", out, ExportFilter(include_superseded=True))
    first, second = _manifest(out)
    assert first["file"] == corpus_file_name(v1.seq, v1.content_hash)
    assert first["canonical_url"] == url and first["aliases"] == [alias]
    assert first["captions"] == ["Ảnh: hội nghị"] and first["title"] == "Tiêu đề"
    assert first["published_at"] == "2024-06-17T09:30:00+00:00"
    assert first["author"] == "V.T" and first["category"] == "Tin hoạt động"
    assert first["extractor"] == "profile:vksndtc"
    assert first["superseded_by"] == second["file"] and first["is_current"] is False
    assert second["supersedes"] == first["file"] and second["seq"] == v2.seq


async def test_second_run_writes_nothing_and_new_articles_are_added(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    await _fill(db, 10)
    assert _export(db, out).written == 10
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    report = _export(db, out)
    assert (report.written, report.restored, report.skipped) == (0, 0, 10)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    await _fill(db, 5, seed=2, start=100)
    assert _export(db, out).written == 5
    entries = _manifest(out)
    assert len(entries) == 15 and len({e["file"] for e in entries}) == 15
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)


async def test_only_current_versions_unless_asked(tmp_path: Path) -> None:
    db, out, every = tmp_path / "v.db", tmp_path / "current", tmp_path / "all"
    async with await SqliteStore.open(db) as store:
        await store.store_article(
            make_article(article_url(1), "A"), make_raw(article_url(1)), None, None
        )
        await store.store_article(
            make_article(article_url(1), "A2"), make_raw(article_url(1)), None, None
        )
        await store.store_article(
            make_article(article_url(2), "B"), make_raw(article_url(2)), None, None
        )
    _export(db, out)
    assert [(out / n).read_text(encoding="utf-8") for n in _corpus(out)] == ["A2", "B"]
    _export(db, every, ExportFilter(include_superseded=True))
    assert [(every / n).read_text(encoding="utf-8") for n in _corpus(every)] == ["A", "A2", "B"]
    # asking for superseded versions later adds exactly the missing ones
    assert _export(db, out, ExportFilter(include_superseded=True)).written == 1


async def test_after_seq_and_since_filters(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await SqliteStore.open(db) as store:
        for i, day in enumerate([date(2024, 1, 5), date(2024, 3, 1), date(2024, 7, 9)]):
            when = datetime.combine(day, datetime.min.time()).replace(hour=6, tzinfo=UTC)
            await store.store_article(
                make_article(article_url(i), f"Bài {i}", published_at=when),
                make_raw(article_url(i)), None, None,
            )  # fmt: skip
    _export(db, tmp_path / "a", ExportFilter(after_seq=1))
    assert [n[:3] for n in _corpus(tmp_path / "a")] == ["002", "003"]
    _export(db, tmp_path / "s", ExportFilter(since=date(2024, 3, 1)))
    assert [n[:3] for n in _corpus(tmp_path / "s")] == ["002", "003"]


async def test_a_missing_file_is_restored_without_a_second_manifest_line(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    await _fill(db, 4)
    _export(db, out)
    victim = _corpus(out)[1]
    content = (out / victim).read_bytes()
    (out / victim).unlink()
    report = _export(db, out)
    assert (report.written, report.restored) == (0, 1)
    assert (out / victim).read_bytes() == content
    assert len(_manifest(out)) == 4


async def test_torn_manifest_line_and_stale_temp_files_are_repaired(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    await _fill(db, 3)
    _export(db, out)
    manifest = out / MANIFEST_NAME
    lines = manifest.read_bytes().splitlines(keepends=True)
    # a crash cut the last line in half and left a temporary file behind
    manifest.write_bytes(b"".join(lines[:2]) + lines[2][:40])
    temp = out / f".{_corpus(out)[2]}.999.tmp"
    temp.write_bytes(b"half")
    report = _export(db, out)
    assert report.written == 1  # the third file is re-listed, the others are kept
    assert [e["file"] for e in _manifest(out)] == _corpus(out)
    assert not temp.exists()


async def test_a_corrupt_manifest_line_is_an_error_not_silence(tmp_path: Path) -> None:
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    await _fill(db, 2)
    _export(db, out)
    manifest = out / MANIFEST_NAME
    manifest.write_bytes(b"not json\n" + manifest.read_bytes())
    with pytest.raises(ExportError, match="line 1"):
        _export(db, out)


async def test_two_exports_into_one_directory_are_refused(tmp_path: Path) -> None:
    import fcntl

    db, out = tmp_path / "v.db", tmp_path / "corpus"
    await _fill(db, 2)
    out.mkdir()
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ExportError, match="another export"):
            _export(db, out)
    finally:
        os.close(fd)
    assert _export(db, out).written == 2


async def test_jsonl_streams_text_and_metadata(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    texts = await _fill(db, 5)
    conn = open_reader(db)
    try:
        stream = io.StringIO()
        assert export_jsonl(conn, stream, ExportFilter(after_seq=2)) == 3
        assert export_jsonl_file(conn, tmp_path / "out" / "all.jsonl", ExportFilter()) == 5
    finally:
        conn.close()
    objects = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [o["text"] for o in objects] == texts[2:]
    assert all(NAME.match(o["file"]) for o in objects)
    lines = (tmp_path / "out" / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["all.jsonl"]


async def test_export_while_a_writer_inserts(tmp_path: Path) -> None:
    """A reader exports repeatedly while the writer keeps committing batches; every exported
    file matches its record, nothing is listed twice, and a final run completes the corpus."""
    db, out = tmp_path / "v.db", tmp_path / "corpus"
    rng = random.Random(7)
    store = await SqliteStore.open(db)
    await store.store_articles(
        [
            StoreRequest(
                make_article(article_url(i), vietnamese_text(rng, 2, 40)), make_raw(article_url(i))
            )
            for i in range(50)
        ]
    )
    writer_done = threading.Event()
    exports: list[int] = []

    def exporter() -> None:
        while not writer_done.is_set():
            exports.append(_export(db, out).written)

    async def writer() -> int:
        written, batch = 50, 0
        # keep writing until the reader has finished at least three exports meanwhile
        while len(exports) < 3 or batch < 5:
            requests = []
            for _ in range(25):
                text = vietnamese_text(rng, 2, 40)
                if rng.random() < 0.2:  # an edit of an earlier article
                    url = article_url(rng.randrange(written))
                else:
                    url, written = article_url(written), written + 1
                requests.append(StoreRequest(make_article(url, text), make_raw(url)))
            await store.store_articles(requests)
            batch += 1
            await asyncio.sleep(0)
        writer_done.set()
        return batch

    try:
        reader = asyncio.create_task(asyncio.to_thread(exporter))
        batches = await writer()
        await reader
    finally:
        await store.close()
    assert batches >= 5 and len(exports) >= 3
    _export(db, out, ExportFilter(include_superseded=True))
    check_invariants(db)
    entries = _manifest(out)
    assert len({e["file"] for e in entries}) == len(entries)
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT seq, content_hash, text FROM articles").fetchall()
    finally:
        conn.close()
    expected = {corpus_file_name(seq, digest): text for seq, digest, text in rows}
    assert set(_corpus(out)) == set(expected)
    for name, text in expected.items():
        assert (out / name).read_text(encoding="utf-8") == text
