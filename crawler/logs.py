"""Logging setup for the long-running commands: text for people, JSON lines for machines.

Code logs with the standard library and puts the structured fields in ``extra``
(``event``, ``url``, ``status``, ``duration_ms``, ``outcome``, ``attempt``, plus any counter).
The text format appends the fields present as ``key=value``; the JSON format writes one object
per line with a UTC timestamp, so a log shipper needs no parsing rules.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

FIELDS: tuple[str, ...] = ("event", "url", "status", "duration_ms", "outcome", "attempt")
DEFAULT_LEVEL = "INFO"

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


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
        payload["event"] = extras.pop("event", record.getMessage())
        for name in FIELDS[1:]:
            if name in extras:
                payload[name] = extras.pop(name)
        payload.update(extras)
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        extras.pop("event", None)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


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
    # APScheduler logs each job run at INFO; keep its warnings and errors only.
    scheduler = logging.getLogger("apscheduler")
    scheduler.handlers[:] = [handler]
    scheduler.setLevel(logging.WARNING)
    scheduler.propagate = False
