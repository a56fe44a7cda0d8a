"""The CLI imports only the command it runs (issue 17, target 1: a backfill's start was 0.8 s,
half of it the daemon, the HTTP API, prometheus and the replica's aiohttp server, none of
which a backfill uses).

Real subprocesses: ``python -X importtime`` lists every module a command imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vksnd.crawler.cli.main import COMMANDS, command_named

# Modules only `run` (the daemon) and `replica` need.
SERVICE_AND_REPLICA = (
    "aiohttp",
    "apscheduler",
    "prometheus_client",
    "vksnd.fixtures.portal.server",
    "vksnd.crawler.service.daemon",
    "vksnd.crawler.service.http_api",
)


def imported(tmp_path: Path, *argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vksnd.crawler", *argv],
        cwd=tmp_path,  # no ./vksnd.toml
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def other_commands(command: str) -> set[str]:
    return {f"vksnd.crawler.cli.commands.{name}" for name in COMMANDS if name != command}


@pytest.mark.parametrize(
    "argv",
    [
        ("backfill", "--help"),
        ("crawl", "--help"),
        ("config",),
    ],
)
def test_a_command_imports_neither_the_others_nor_the_service(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    names = imported(tmp_path, *argv)
    command = command_named(argv)
    assert not names & other_commands(command or ""), "other commands imported"
    service = {
        n for n in names if n.split(".")[0] in SERVICE_AND_REPLICA or n in SERVICE_AND_REPLICA
    }
    assert not service, f"{argv}: imported {sorted(service)}"


def test_the_top_level_help_still_lists_every_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vksnd.crawler", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for name in COMMANDS:
        assert f"    {name}" in done.stdout, name


def test_command_named_reads_the_first_word_that_is_not_an_option() -> None:
    assert command_named(["backfill", "--since", "2024-01-01"]) == "backfill"
    assert command_named(["-h"]) is None
    assert command_named(["bakfill"]) is None  # argparse then lists the commands
    assert command_named(["--", "crawl"]) is None
