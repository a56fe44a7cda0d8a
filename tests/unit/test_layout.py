"""The house rules: one ``vksnd`` namespace, imports flowing one way, crawler/ grouped by job.

parsers <- storage <- crawler; nothing imports crawler. Inside crawler/: ``fetch`` (one URL,
politely) imports nothing of the other rooms; ``crawl`` (what to fetch, where it goes) may use
``fetch``; ``service`` (the daemon and what it exposes) may use both; ``cli`` sits on top, and only
``__main__`` imports it. The modules at crawler/'s top level (settings) serve every room and import
none of them.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("crawler", "parsers", "storage", "fixtures")
ROOMS = ("fetch", "crawl", "service", "cli")
# which rooms each room may import (besides itself and crawler/'s shared top-level modules)
ROOM_MAY_IMPORT = {
    "fetch": set(),
    "crawl": {"fetch"},
    "service": {"fetch", "crawl"},
    "cli": {"fetch", "crawl", "service"},
}


def _imports(folder: str) -> list[tuple[Path, str]]:
    """(file, imported module) for every absolute import under ``folder``."""
    found: list[tuple[Path, str]] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def _ours(module: str) -> str | None:
    """The top folder of one of our modules (``vksnd.storage.x`` -> ``storage``), else None."""
    parts = module.split(".")
    if parts[0] == "vksnd" and len(parts) > 1:
        return parts[1]
    return None


def _room(path: Path) -> str | None:
    relative = path.relative_to(ROOT / "crawler").parts
    return relative[0] if len(relative) > 1 and relative[0] in ROOMS else None


def test_our_code_imports_ours_only_through_the_vksnd_namespace() -> None:
    folders = (*PACKAGES, "bench", "fuzz", "tests")
    bad = [(p, m) for folder in folders for p, m in _imports(folder) if m.split(".")[0] in PACKAGES]
    assert bad == [], "import vksnd.<package>…, never the bare folder name"


def test_every_package_folder_is_installed_under_vksnd() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    declared = set(setuptools["packages"])
    on_disk = {
        "vksnd." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in PACKAGES
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert declared == on_disk
    assert setuptools["package-dir"] == {f"vksnd.{folder}": folder for folder in PACKAGES}


def test_parsers_import_nothing_of_ours() -> None:
    bad = [(p, m) for p, m in _imports("parsers") if _ours(m) not in (None, "parsers")]
    assert bad == []


def test_storage_imports_only_parser_records() -> None:
    bad = [
        (p, m)
        for p, m in _imports("storage")
        if _ours(m) not in (None, "storage") and m != "vksnd.parsers.records"
    ]
    assert bad == []


def test_nothing_imports_crawler() -> None:
    for package in ("parsers", "storage", "fixtures"):
        bad = [(p, m) for p, m in _imports(package) if _ours(m) == "crawler"]
        assert bad == [], package


def test_crawler_rooms_import_downward_only() -> None:
    bad = []
    for path, module in _imports("crawler"):
        parts = module.split(".")
        if parts[:2] != ["vksnd", "crawler"] or len(parts) < 3:
            continue
        target = parts[2] if parts[2] in ROOMS else None
        source = _room(path)
        if target is None or target == source or path.name == "__main__.py":
            continue
        if source is None or target not in ROOM_MAY_IMPORT[source]:
            bad.append((str(path.relative_to(ROOT)), module))
    assert bad == []


def test_crawler_has_its_four_rooms_and_few_loose_modules() -> None:
    crawler = ROOT / "crawler"
    for room in ROOMS:
        assert (crawler / room / "__init__.py").is_file(), room
    loose = sorted(p.name for p in crawler.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "config.py"]


def test_no_sqlite_under_crawler() -> None:
    """The crawler reaches the database through the Protocols of crawl/ports.py only."""
    bad = [(p, m) for p, m in _imports("crawler") if m.split(".")[0] in ("sqlite3", "aiosqlite")]
    assert bad == []
    named = [p for p in (ROOT / "crawler").rglob("*.py") if "sqlite3" in p.read_text("utf-8")]
    assert named == []


def test_crawler_uses_storage_records_and_opens_the_engine_in_one_module() -> None:
    """Storage's records, errors and site names are for everyone; its engine (store, reader,
    schema, export, stats) is opened by crawl/storage_engine.py alone (config.py reads
    StoreConfig's defaults; reparse's pool workers inflate archived bodies with the archive's
    codec: it opens nothing)."""
    shared = {"vksnd.storage.records", "vksnd.storage.errors", "vksnd.storage.sites"}
    engine = {
        "crawl/storage_engine.py": {
            "vksnd.storage.sqlite",
            "vksnd.storage.reader",
            "vksnd.storage.writer_lock",
        },
        "config.py": {"vksnd.storage.sqlite"},
        "crawl/parse_pool.py": {"vksnd.storage.archive"},
    }
    bad = [
        (str(path.relative_to(ROOT)), module)
        for path, module in _imports("crawler")
        if _ours(module) == "storage"
        and module not in shared
        and module not in engine.get(path.relative_to(ROOT / "crawler").as_posix(), set())
    ]
    assert bad == []


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
