"""``vksnd config``: the effective settings and where each came from.

Settings resolve flags > ``VKSND_*`` environment > TOML file > defaults; when a crawl does not
behave as expected, this shows which layer won. ``--json`` gives the same as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vksnd.crawler.cli.common import add_settings_arguments
from vksnd.crawler.cli.logs import redact
from vksnd.crawler.config import ConfigError, ResolvedSettings, SiteEntry, resolve_settings
from vksnd.parsers.profiles.model import SiteProfile

HELP = "print the effective settings and the source of each (flag, env, file, default)"
# Credentials in URLs (``https://user:pass@host``) and secret query values are masked.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _plain(value: object) -> object:
    """A value as shown: paths as text, credentials in URLs masked (``https://***@host``)."""
    if isinstance(value, Path):
        return redact(str(value))
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, SiteProfile):
        return str(value)
    if isinstance(value, SiteEntry):  # one of ``sites``: name(key=value ...)
        return redact(str(value))
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def render_text(resolved: ResolvedSettings) -> str:
    width = max(len(v.key) for v in resolved.values)
    lines = [f"# config file: {resolved.config_path or '(none)'}"]
    for item in resolved.values:
        value = _plain(item.value)
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else value
        lines.append(f"{item.key:<{width}} = {shown!s:<48} # {item.source}")
    scope = ",".join(sorted(resolved.settings.scope_hosts))
    lines.append(f"{'scope_hosts':<{width}} = {scope:<48} # derived from base_url")
    return "\n".join(lines)


def render_json(resolved: ResolvedSettings) -> str:
    data = {
        "config_file": str(resolved.config_path) if resolved.config_path else None,
        "settings": {
            v.key: {"value": _plain(v.value), "source": v.source} for v in resolved.values
        },
        "scope_hosts": sorted(resolved.settings.scope_hosts),
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def run(args: argparse.Namespace) -> int:
    try:
        resolved = resolve_settings(vars(args), os.environ, args.config)
    except ConfigError as exc:
        print(f"vksnd: {exc}", file=sys.stderr)
        return 2
    print(render_json(resolved) if args.json else render_text(resolved))
    return 0
