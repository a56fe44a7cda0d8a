"""``vksnd clean`` and ``vksnd parse`` as real subprocesses (files, and a URL on the replica)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from vksnd.fixtures.layouts import render_not_found, render_portal
from vksnd.fixtures.seed_articles import seed_articles
from vksnd.fixtures.urls import article_path

SEEDS = resources.files("vksnd.fixtures").joinpath("seeds")
EXPECTED = resources.files("vksnd.fixtures").joinpath("expected")
BASE = "https://vksndtc.gov.vn"


def vksnd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vksnd.crawler", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=cwd,
        check=False,
    )


def _seed_paths() -> list[Path]:
    return sorted(Path(str(SEEDS.joinpath(e.name))) for e in SEEDS.iterdir())


def test_clean_writes_expected_files(tmp_path: Path) -> None:
    paths = _seed_paths()
    done = vksnd("clean", *map(str, paths), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for path in paths:
        expected = EXPECTED.joinpath(path.name).read_text(encoding="utf-8")
        assert (tmp_path / path.name).read_text(encoding="utf-8") == expected


def test_clean_prints_text_and_json() -> None:
    path = next(p for p in _seed_paths() if p.name.startswith("004"))
    done = vksnd("clean", str(path))
    assert done.returncode == 0
    assert done.stdout.rstrip("\n") == EXPECTED.joinpath(path.name).read_text(encoding="utf-8")
    done = vksnd("clean", "--json", str(path))
    data = json.loads(done.stdout)
    assert data["byline"] == "TL"
    assert data["captions"][0] == "Toàn cảnh buổi gặp mặt"
    assert data["text"] == EXPECTED.joinpath(path.name).read_text(encoding="utf-8")


def test_clean_reads_bom_and_crlf_dumps(tmp_path: Path) -> None:
    path = next(p for p in _seed_paths() if p.name.startswith("004"))
    dump = tmp_path / path.name
    dump.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    done = vksnd("clean", str(dump), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    expected = EXPECTED.joinpath(path.name).read_text(encoding="utf-8")
    assert (tmp_path / "out" / path.name).read_text(encoding="utf-8") == expected


def test_clean_missing_file_fails() -> None:
    done = vksnd("clean", "/nonexistent/file.txt")
    assert done.returncode == 1 and "cannot read /nonexistent/file.txt" in done.stderr


def test_clean_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    """b2de816: ``vksnd clean dump.txt --out .`` replaced the dump with its cleaned text."""
    path = next(p for p in _seed_paths() if p.name.startswith("004"))
    dump = tmp_path / path.name
    dump.write_bytes(path.read_bytes())
    done = vksnd("clean", str(dump), "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"vksnd clean: refusing to overwrite the input {dump} (choose another --out)"
    )
    assert dump.read_bytes() == path.read_bytes()


def test_clean_rejects_text_that_is_not_utf8(tmp_path: Path) -> None:
    """b2de816: a windows-1258 dump came out with U+FFFD where the Vietnamese letters were,
    exit 0."""
    path = next(p for p in _seed_paths() if p.name.startswith("004"))
    legacy = tmp_path / "legacy.txt"
    legacy.write_bytes(path.read_text(encoding="utf-8").encode("cp1258", errors="ignore"))
    done = vksnd("clean", str(legacy))
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"vksnd clean: {legacy} is not UTF-8 text (byte 0x")
    assert "iconv" in line
    both = vksnd("clean", str(legacy), str(path))  # one good, one refused: partial
    assert both.returncode == 3 and both.stdout.strip()


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"%PDF-1.4\n" + bytes(range(256)) * 40, "PDF"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 99, "PNG"),
     (b"<html>" + bytes(range(256)) * 10, "binary data")],
    ids=["pdf", "png", "nul-bytes"],
)  # fmt: skip
def test_parse_refuses_binary_input(tmp_path: Path, body: bytes, kind: str) -> None:
    """b2de816: ``vksnd parse report.pdf`` printed whatever the generic extractor made of it."""
    path = tmp_path / "file.bin"
    path.write_bytes(body)
    done = vksnd("parse", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"vksnd parse: {path} is not an HTML page ({kind})"


def test_parse_file_json(tmp_path: Path) -> None:
    seed = seed_articles()[3]
    url = BASE + article_path(seed)
    page = tmp_path / "page.html"
    page.write_bytes(render_portal(seed, url).encode("utf-8"))
    done = vksnd("parse", str(page), "--url", url, "--json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    assert set(data) == {"url", "canonical_url", "title", "published_at", "author", "category",
                         "text", "captions", "images", "content_hash", "extractor",
                         "key"}  # fmt: skip
    assert data["key"] == str(seed.id)  # the article number, from the profile's URL pattern
    assert data["title"] == seed.title
    assert data["published_at"] == seed.published_at.isoformat()
    assert data["author"] == "V.T"
    assert data["extractor"] == "profile:vksndtc"
    plain = vksnd("parse", str(page), "--url", url)
    assert plain.stdout.rstrip("\n") == data["text"]


def test_parse_reports_not_an_article(tmp_path: Path) -> None:
    page = tmp_path / "404.html"
    page.write_text(render_not_found(BASE + "/x"), encoding="utf-8")
    done = vksnd("parse", str(page))
    assert done.returncode == 1  # failed: exit codes are the same for every command
    assert "error_page" in done.stderr


def test_parse_url_on_the_replica(replica: Any) -> None:
    truth = replica.truth()["articles"]
    for article in truth[:3]:
        done = vksnd("parse", article["canonical_url"], "--json")
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["text"] == article["text"]
        assert data["title"] == article["title"]
        assert data["captions"] == article["captions"]
