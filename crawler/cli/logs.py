"""Logging setup for the long-running commands: text for people, JSON lines for machines.

Code logs with the standard library and puts the structured fields in ``extra``. The text
format appends the fields present as ``key=value``; the JSON format writes one object per line
with a UTC timestamp, so a log shipper needs no parsing rules. One schema for every line
(``SCHEMA``, documented in the README): a field always means the same thing, whatever the event:

- ``url`` is a URL, ``status`` an HTTP status, ``duration_ms`` milliseconds, ``attempt`` the
  attempts a fetch took;
- ``outcome`` is what the line's subject came to: a run's outcome (ok, partial, failed,
  interrupted) on ``*_pass`` lines, a page's (new, duplicate, unchanged, new_version,
  not_modified, not_article, out_of_range, dry_run, failed, skipped, gone) on ``page`` and
  ``fetch_failed`` lines, ``ok``/``failed`` on ``export`` lines;
- ``error`` says why something failed, in a line (``traceback`` holds a bug's traceback);
  ``reason_class`` classes it; ``reason`` says why a run's outcome is not ok;
- ``scope`` is a listing scope (``cat:2``), never a URL.

Secrets never reach a log line: both formats pass the finished line through ``redact``
(credentials in URLs such as ``https://user:pass@host``, and secret-looking query
parameters), and fields whose name says secret (password, token, cookie…) are masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

FIELDS: tuple[str, ...] = (
    "event", "url", "status", "duration_ms", "outcome", "attempt", "error",
)  # fmt: skip
# Every field a line may carry and its JSON type(s); counters (new_articles=…) are integers.
SCHEMA: dict[str, tuple[type, ...]] = {
    "timestamp": (str,),  # UTC, ISO 8601 with milliseconds
    "level": (str,),  # debug, info, warning, error
    "logger": (str,),
    "message": (str,),  # for people; the fields say the same for machines
    "event": (str,),  # what happened: page, fetch_failed, listing_failed, crawl_pass, export…
    "url": (str,),
    "status": (int,),
    "duration_ms": (int, float),
    "outcome": (str,),
    "attempt": (int,),
    "error": (str,),
    "traceback": (str,),
    "reason": (str,),
    "reason_class": (str,),
    "scope": (str,),
}
DEFAULT_LEVEL = "INFO"
REDACTED = "***"
# userinfo of any URL: scheme://user:password@ or scheme://token@
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#\s@]+@")
_SECRET_QUERY = re.compile(
    r"(?i)(?P<key>[?&](?:access_token|token|api_?key|key|password|passwd|pwd|secret"
    r"|signature|sig|auth|session|sid)=)[^&#\s\"']*"
)
# extra fields named like a secret: password, db_password, token, cookie, api_key…
_SECRET_FIELD = re.compile(
    r"(?i)^(?:\w*_)?(?:password|passwd|pwd|secret|token|auth|authorization|cookie"
    r"|api_?key|credentials?)$"
)

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def redact(text: str) -> str:
    """``text`` with URL credentials and secret query values replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{REDACTED}", text)


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {
        k: REDACTED if _SECRET_FIELD.search(k) else v
        for k, v in record.__dict__.items()
        if k not in _STANDARD and v is not None
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extras = _extras(record)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            extras.setdefault("error", f"{type(error).__name__}: {error}")
            extras["traceback"] = self.formatException(record.exc_info)
        payload["event"] = extras.pop("event", record.getMessage())
        for name in FIELDS[1:]:
            if name in extras:
                payload[name] = extras.pop(name)
        payload.update(extras)
        return redact(json.dumps(payload, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        extras.pop("event", None)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return redact(line)


def setup_logging(
    log_format: Literal["text", "json"],
    level: str = DEFAULT_LEVEL,
    stream: TextIO | None = None,
) -> None:
    """Configure the ``vksnd`` logger tree once per process (a command calls it first)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("vksnd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # APScheduler logs each job run at INFO, and a job still running at its next time as a raw
    # WARNING; the daemon says the latter in its own words (pass_skipped). Keep its errors.
    scheduler = logging.getLogger("apscheduler")
    scheduler.handlers[:] = [handler]
    scheduler.setLevel(logging.ERROR)
    scheduler.propagate = False
