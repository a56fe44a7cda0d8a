"""Logs of real commands: JSON lines with the issue's fields, text by default, no secrets.

Commands run as subprocesses against the replica and their stderr is read line by line.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.crawl import run_cli, site_args, truth_articles
from vksnd.crawler.cli.logs import SCHEMA, JsonFormatter, TextFormatter
from vksnd.storage.records import RunOutcome

MakeReplica = Any
FIELDS = (
    "timestamp", "level", "event", "url", "status", "duration_ms", "outcome", "attempt", "error",
)  # fmt: skip


def _events(stderr: str) -> list[dict[str, Any]]:
    lines = stderr.splitlines()
    assert lines, "no log lines"
    return [json.loads(line) for line in lines]  # every line is one JSON object


def test_json_log_lines_of_a_crawl_carry_the_fields(
    make_replica: MakeReplica, tmp_path: Path
) -> None:
    replica = make_replica(articles=15, seed=71, redirects=0)
    started = datetime.now().astimezone()
    done = run_cli(
        "crawl", *site_args(replica.base_url, tmp_path / "v.db"),
        "--log-format", "json", "--log-level", "DEBUG", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    events = _events(done.stderr)
    for event in events:
        assert {"timestamp", "level", "event", "message"} <= set(event)
        when = datetime.fromisoformat(event["timestamp"])
        assert when.utcoffset() == timedelta(0)
        assert started - timedelta(seconds=5) <= when <= datetime.now().astimezone()
        assert event["level"] in ("debug", "info", "warning", "error")
    pages = [e for e in events if e["event"] == "page"]
    truth = truth_articles(replica.truth())
    stored = [e["url"] for e in pages if e["outcome"] == "new"]
    assert len(stored) == len(set(stored)) == len(truth)  # a line per article fetched and stored
    assert all(url.startswith(replica.base_url + "/") for url in stored)
    for page in pages:
        assert set(FIELDS) - {"error"} <= set(page)  # error: on failed pages only
        assert page["status"] == 200 and page["attempt"] >= 1
        assert isinstance(page["duration_ms"], int | float) and page["duration_ms"] > 0
    (summary,) = [e for e in events if e["event"] == "crawl_pass"]
    assert summary["level"] == "info" and summary["outcome"] == "ok"
    assert summary["new_articles"] == len(truth) and summary["duration_ms"] > 0
    failed = [e for e in events if e["event"] == "fetch_failed"]
    (broken,) = replica.truth()["broken"]  # the listed article that answers 404
    # A line per page, failed ones too, at DEBUG: the pass summary counts them (gone 1).
    assert [(e["url"], e["status"], e["level"], e["outcome"], e["error"]) for e in failed] == [
        (broken, 404, "debug", "gone", "HTTP 404")
    ]
    assert summary["gone"] == 1 and summary["failures"] == 0


def test_text_logs_by_default(make_replica: MakeReplica, tmp_path: Path) -> None:
    replica = make_replica(articles=5, seed=72, redirects=0)
    done = run_cli("crawl", *site_args(replica.base_url, tmp_path / "v.db"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert lines and not any(line.startswith("{") for line in lines)
    (summary,) = [line for line in lines if "crawl pass finished" in line]
    assert " INFO " in summary and "outcome=ok" in summary and "duration_ms=" in summary


def _format(formatter: logging.Formatter, message: str, **extra: Any) -> str:
    record = logging.LogRecord("vksnd.test", logging.WARNING, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return formatter.format(record)


def test_json_formatter_orders_the_fields_and_keeps_extras() -> None:
    line = _format(
        JsonFormatter(), "page", event="page", url="http://h/a", status=304, duration_ms=1.5,
        outcome="not_modified", attempt=2, listing_pages=3, error="none",
    )  # fmt: skip
    payload = json.loads(line)
    assert list(payload)[:4] == ["timestamp", "level", "logger", "message"]
    assert [k for k in payload if k in FIELDS] == list(FIELDS)
    assert payload["listing_pages"] == 3 and payload["level"] == "warning"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("vksnd.test.json")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad page")
        except ValueError:
            logger.exception("step failed", extra={"event": "step_error"})
    finally:
        logger.removeHandler(handler)
    (record,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert record["event"] == "step_error" and "ValueError: bad page" in record["error"]


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_formatters_write_one_line_per_record(formatter: logging.Formatter) -> None:
    out = _format(formatter, "two\nlines", event="x", url="http://h/")
    if isinstance(formatter, JsonFormatter):
        assert "\n" not in out and json.loads(out)["message"] == "two\nlines"
    else:
        assert out.endswith("url=http://h/")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_credentials_in_the_base_url_never_reach_the_log(
    make_replica: MakeReplica, tmp_path: Path, log_format: str
) -> None:
    replica = make_replica(articles=5, seed=73, redirects=0)
    dead = f"http://127.0.0.1:{_closed_port()}"
    for origin in (replica.base_url, dead):  # a working crawl, and one that logs failures
        secret_url = origin.replace("http://", "http://bob:hunter2@")
        done = run_cli(
            "crawl", *site_args(secret_url, tmp_path / "v.db"), "--retry-attempts", "1",
            "--log-format", log_format, "--log-level", "DEBUG", cwd=tmp_path,
        )  # fmt: skip
        assert origin.removeprefix("http://") in done.stderr  # URLs are logged...
        assert "hunter2" not in done.stderr + done.stdout  # ...never with the password
    assert dead.replace("http://", "http://***@") in done.stderr


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_formatters_mask_secret_fields_urls_and_tracebacks(formatter: logging.Formatter) -> None:
    try:
        raise ConnectionError("proxy http://u:s3cret-a@proxy:3128 refused")
    except ConnectionError:
        record = logging.LogRecord(
            "vksnd.t",
            logging.ERROR,
            __file__,
            1,
            "GET %s",
            ("https://tok3n-b@h/a",),
            sys.exc_info(),
        )
    record.__dict__.update(
        event="x", url="https://h/feed?Page=2&token=s3cret-c", password="s3cret-d",
        db_password="s3cret-e", cookie="s3cret-f", passes=3, author="V.T",
    )  # fmt: skip
    out = formatter.format(record)
    assert "s3cret" not in out and "tok3n" not in out
    assert "Page=2&token=***" in out and "https://***@h/a" in out
    assert "passes" in out and "V.T" in out  # fields merely named alike are kept
    if isinstance(formatter, JsonFormatter):
        payload = json.loads(out)
        assert payload["password"] == payload["cookie"] == "***" and payload["passes"] == 3


PAGE_OUTCOMES = {"new", "duplicate", "unchanged", "new_version", "not_modified", "not_article",
                 "out_of_range", "dry_run", "failed", "skipped", "gone"}  # fmt: skip


def test_every_json_line_follows_the_one_schema(make_replica: MakeReplica, tmp_path: Path) -> None:
    """b2de816: "category walked url=2 outcome=1 pages" (a category in ``url``, a count in
    ``outcome``); errors in ``outcome``; an unreachable site worded as a robots.txt problem."""
    replica = make_replica(articles=30, seed=74, redirects=0)
    victim = truth_articles(replica.truth())[3]["id"]
    replica.set_faults(kinds=("500",), rate=1.0, path_regex=rf"(Cat=10&Page=1|-t{victim}\.html)$")
    done = run_cli(
        "crawl", *site_args(replica.base_url, tmp_path / "v.db"), "--retry-attempts", "1",
        "--log-format", "json", "--log-level", "DEBUG", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-2000:]
    events = _events(done.stderr)
    for event in events:
        for name, value in event.items():
            kinds = SCHEMA.get(name, (int,))  # anything else is a counter
            if name in ("reasons", "health", "path", "host", "kind", "resumed_from", "reached"):
                continue
            assert isinstance(value, kinds), (name, value, event["event"])
        if "url" in event:
            assert event["url"].startswith(replica.base_url), event
        if event["event"].endswith("_pass"):
            assert event["outcome"] in {o.value for o in RunOutcome}, event
        if event["event"] in ("page", "fetch_failed"):
            assert event["outcome"] in PAGE_OUTCOMES, event
    walked = [e for e in events if e["event"] == "listing_walked"]
    assert sorted(e["scope"] for e in walked) == sorted(f"cat:{c}" for c in (2, 10, 14, 20, 32))
    assert all("url" not in e and isinstance(e["pages"], int) for e in walked)
    (listing,) = [e for e in events if e["event"] == "listing_failed"]
    assert (listing["error"], listing["reason_class"], listing["scope"]) == (
        "HTTP 500", "server", "cat:10",
    )  # fmt: skip
    (article,) = [e for e in events if e["event"] == "fetch_failed" and e["status"] == 500]
    assert (article["outcome"], article["error"]) == ("failed", "HTTP 500")
    (summary,) = [e for e in events if e["event"] == "crawl_pass"]
    assert summary["outcome"] == "partial" and "queued for a retry" in summary["reason"]
