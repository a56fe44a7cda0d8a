"""The tables of the documents that tests hold the code to (README "Exit codes")."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXIT_CODES = "## Exit codes"


def _section(text: str, heading: str) -> str:
    _, found, rest = text.partition(f"\n{heading}\n")
    assert found, f"README has no {heading!r} section"
    return rest.split("\n## ", 1)[0]


def _tables(section: str) -> list[list[list[str]]]:
    """Each markdown table as its body rows (header and ``|---|`` dropped), cells stripped."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in section.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        if current is None:
            current = []
            tables.append(current)
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        current.append(cells)
    return [table[2:] for table in tables]


def readme_exit_codes() -> tuple[dict[int, str], dict[str, set[int]]]:
    """(code -> constant name, command -> codes) from README's section."""
    legend, commands = _tables(_section(README.read_text(encoding="utf-8"), EXIT_CODES))
    by_code = {int(code.strip("`")): constant.strip("`") for code, _, constant in legend}
    by_command = {
        name.strip("`"): {int(code) for code in re.findall(r"`(\d+)`", codes)}
        for name, codes, _ in commands
    }
    return by_code, by_command
