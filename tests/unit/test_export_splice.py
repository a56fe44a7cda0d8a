"""The incremental export's manifest splice (issue 17, point 4): finding each changed ``seq`` by
a binary search and copying the runs between gives byte for byte what reading every line gives.

The long way (``_splice_by_line``) is the reference; the property runs both on manifests built
to hit the edges: changes at the first and last line, several changes in a row, a seq listed
twice, fresh lines before, between and after every listed one, an empty manifest, a last line
without its newline, and lines that carry no ``seq`` (which must send the splice the long way).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vksnd.storage.export import MANIFEST_NAME, _splice_by_line, _splice_manifest


def _name(seq: int, tag: int) -> str:
    return f"{seq:03d}_{tag:016x}.txt"


def _line(name: str, extra: str = "") -> bytes:
    return (json.dumps({"file": name, "title": extra}, ensure_ascii=False) + "\n").encode()


manifests = st.lists(
    st.tuples(st.integers(0, 60), st.integers(0, 3), st.text(max_size=8)), max_size=40
)


def _build(rows: list[tuple[int, int, str]], foreign: bool, torn: bool) -> tuple[bytes, list[str]]:
    rows = sorted(rows, key=lambda row: row[0])
    names = [_name(seq, tag) for seq, tag, _ in rows]
    body = b"".join(_line(name, extra) for name, (_, _, extra) in zip(names, rows, strict=True))
    if foreign and body:
        body += b'{"note": "a line nobody listed"}\n{"file": "1x_not-a-seq.txt"}\n'
    if torn and body:
        body = body[:-1]
    return body, names


def _run_both(body: bytes, dropped: set[str], fresh: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / MANIFEST_NAME
        path.write_bytes(body)
        reference = io.BytesIO()
        with open(path, "rb") as old:
            _splice_by_line(old, reference, dropped, fresh)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            _splice_manifest(dir_fd, path, dropped, fresh)
        finally:
            os.close(dir_fd)
        return path.read_bytes(), reference.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    rows=manifests,
    drop=st.lists(st.integers(0, 39), max_size=10),
    fresh_seqs=st.lists(st.integers(-1, 70), max_size=10),
    foreign=st.booleans(),
    torn=st.booleans(),
)
@example(rows=[], drop=[], fresh_seqs=[3, 1], foreign=False, torn=False)
@example(
    rows=[(0, 0, ""), (60, 0, "")], drop=[0, 1], fresh_seqs=[0, 60, 61], foreign=False, torn=False
)
@example(rows=[(5, 0, ""), (5, 1, "")], drop=[1], fresh_seqs=[5], foreign=False, torn=True)
def test_search_splice_equals_line_by_line(
    rows: list[tuple[int, int, str]],
    drop: list[int],
    fresh_seqs: list[int],
    foreign: bool,
    torn: bool,
) -> None:
    body, names = _build(rows, foreign, torn)
    dropped = {names[i] for i in drop if i < len(names)}
    fresh = sorted(
        ({"file": _name(max(seq, 0), 9), "seq": max(seq, 0)} for seq in fresh_seqs),
        key=lambda entry: int(entry["seq"]),
    )
    spliced, reference = _run_both(body, dropped, fresh)
    assert spliced == reference


def test_a_large_manifest_is_spliced_without_reading_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of the search: 20,000 lines, 3 changes, and the line reader is called for a
    few hundred lines at most (each search step reads one)."""
    import vksnd.storage.export as export

    body = b"".join(_line(_name(seq, 1)) for seq in range(20_000))
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(body)
    dropped = {_name(7, 1), _name(12_345, 1)}
    fresh = [{"file": _name(7, 2), "seq": 7}, {"file": _name(20_000, 2), "seq": 20_000}]
    calls = 0
    original = export._line_name

    def counting(line: bytes) -> str:
        nonlocal calls
        calls += 1
        return original(line)

    monkeypatch.setattr(export, "_line_name", counting)
    dir_fd = os.open(tmp_path, os.O_RDONLY)
    try:
        _splice_manifest(dir_fd, path, dropped, fresh)
    finally:
        os.close(dir_fd)
    monkeypatch.undo()
    assert calls < 300, calls
    expected = io.BytesIO()
    with io.BytesIO(body) as old:
        _splice_by_line(old, expected, dropped, fresh)
    assert path.read_bytes() == expected.getvalue()
