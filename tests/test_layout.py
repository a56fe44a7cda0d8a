"""The import direction of the design: parsers <- storage <- crawler, nothing imports crawler."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"crawler", "parsers", "storage", "fixtures", "bench", "tests"}


def _imports(package: str) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _ours(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in OURS else None


def test_parsers_import_nothing_of_ours() -> None:
    bad = [(p, m) for p, m in _imports("parsers") if _ours(m) not in (None, "parsers")]
    assert bad == []


def test_storage_imports_only_parser_records() -> None:
    bad = [
        (p, m)
        for p, m in _imports("storage")
        if _ours(m) not in (None, "storage") and m != "parsers.records"
    ]
    assert bad == []


def test_nothing_imports_crawler() -> None:
    for package in ("parsers", "storage", "fixtures"):
        bad = [(p, m) for p, m in _imports(package) if _ours(m) == "crawler"]
        assert bad == [], package


def test_parsers_do_no_io() -> None:
    forbidden = {"httpx", "aiosqlite", "sqlite3", "socket", "asyncio", "urllib.request"}
    bad = [(p, m) for p, m in _imports("parsers") if m in forbidden or m.split(".")[0] in forbidden]
    assert bad == []


def test_third_party_libraries_stay_home() -> None:
    homes = {
        "selectolax": "parsers",
        "aiosqlite": "storage",
        "httpx": "crawler",
        "tenacity": "crawler",
        "apscheduler": "crawler",
    }
    for package in ("parsers", "storage", "crawler"):
        for path, module in _imports(package):
            home = homes.get(module.split(".")[0])
            assert home in (None, package), f"{path} imports {module}"
