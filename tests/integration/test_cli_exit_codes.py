"""README "Exit codes", run: each command as a real subprocess in the situations its row names.

The outcomes of a run (crawl, backfill: 0 ok, 1 failed, 3 partial, 4 busy, 130/143 signals) are
run against the replica in ``tests/reliability/test_outcomes.py`` and
``test_what_vksnd_reports.py``; the replica stopping with 0 in
``test_replica.py::test_cli_serves_until_signalled``. Here, the other codes of every command;
each code observed must also be one its README row lists.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.crawl import run_cli
from support.docs import readme_exit_codes


def readme_codes(command: str) -> set[int]:
    return readme_exit_codes()[1][command]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _files(tmp_path: Path) -> tuple[Path, Path]:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("Một đoạn văn bản.\n", encoding="utf-8")
    bad.write_bytes("Một đoạn".encode("windows-1258", errors="replace") + b"\xff\xfe\x00")
    return good, bad


CASES = [
    # (argv with {db}, {out}, {good}, {bad}, {port} placeholders, code)
    (("config",), 0),
    (("config", "--rate", "fast"), 2),
    (("crawl", "--no-such-flag"), 2),
    (("backfill", "--db", "{db}", "--since", "2024-02-01", "--until", "2024-01-01"), 2),
    (("run", "--db", "{db}", "--http", "127.0.0.1:notaport"), 2),
    (("run", "--db", "{db}", "--base-url", "http://127.0.0.1:9", "--http", "127.0.0.1:{port}"), 1),
    (("stats", "--db", "{db}"), 1),
    (("export", "--db", "{db}"), 2),
    (("export", "--db", "{db}", "--out", "{out}"), 1),
    (("retry", "--db", "{db}"), 1),
    (("reparse", "--db", "{db}"), 1),
    (("parse", "{out}/missing.html"), 1),
    (("clean", "{good}"), 0),
    (("clean", "{good}", "{bad}"), 3),
    (("clean", "{bad}"), 1),
    (("clean", "{good}", "--out", "{here}"), 2),  # would overwrite its input
    (("replica", "--variant", "no-such-variant"), 2),
    (("replica", "--port", "{port}", "--articles", "5"), 1),
]


@pytest.mark.parametrize(("argv", "code"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_command_exits_with_the_code_its_readme_row_lists(
    argv: tuple[str, ...], code: int, tmp_path: Path, taken_port: int
) -> None:
    good, bad = _files(tmp_path)
    values = {
        "db": str(tmp_path / "none" / "v.db"), "out": str(tmp_path / "out"), "good": str(good),
        "bad": str(bad), "port": str(taken_port), "here": str(tmp_path),
    }  # fmt: skip
    done = run_cli(*(arg.format(**values) for arg in argv), cwd=tmp_path)
    assert done.returncode == code, done.stdout[-1000:] + done.stderr[-2000:]
    assert code in readme_codes(argv[0]), (argv[0], code)
    if code:  # one clear line, not a traceback
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stderr.strip(), "a failure says why"
