"""The deployment files, checked without a Docker engine (none exists on these machines).

``docker-compose.yml`` is parsed and its services are checked against the code they run: the
commands go through the real ``vksnd`` and replica argument parsers, the environment through the
real settings loader, and the healthcheck one-liner is executed against a real ``HttpApi``.
The Dockerfile is read instruction by instruction.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from asyncio.subprocess import DEVNULL
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.storage import Readers
from vksnd.crawler.cli.main import build_parser
from vksnd.crawler.config import ENV_PREFIX, KEY_NAMES, resolve_settings
from vksnd.crawler.service.health import Health
from vksnd.crawler.service.http_api import HttpApi, parse_bind
from vksnd.crawler.service.metrics import Metrics
from vksnd.storage.records import RunOutcome
from vksnd.storage.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _interpolate(value: str) -> str:
    """What compose does with ``${VAR:-default}`` when VAR is unset."""
    return _INTERPOLATION.sub(lambda m: m["default"] or "", value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping"
    return {str(k): _interpolate(str(v)) for k, v in env.items()}


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _healthcheck_code(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], "slim images have no curl: python + urllib"
    code = test[3]
    assert isinstance(code, str)
    return code


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _compose()


def test_services_profiles_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"vksnd", "replica", "vksnd-offline"}
    assert "profiles" not in services["vksnd"]  # `docker compose up -d` starts the daemon
    assert services["replica"]["profiles"] == ["offline"]
    assert services["vksnd-offline"]["profiles"] == ["offline"]
    named = set(compose["volumes"])
    for name in ("vksnd", "vksnd-offline"):
        service = services[name]
        assert service["restart"] == "unless-stopped"
        mounts = [m.split(":") for m in service["volumes"]]
        assert [m[1] for m in mounts] == ["/data"] and mounts[0][0] in named  # a named volume
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), "published on the host's loopback only"
    data_volumes = {services[n]["volumes"][0].split(":")[0] for n in ("vksnd", "vksnd-offline")}
    assert len(data_volumes) == 2  # the demo never writes into the real database


@pytest.mark.parametrize("name", ["vksnd", "vksnd-offline"])
def test_daemon_command_and_settings_are_what_vksnd_accepts(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    argv = service["command"]
    assert argv[:2] == ["vksnd", "run"]
    args = build_parser().parse_args(argv[1:])  # the real CLI: unknown flags would exit
    assert args.http_bind == "0.0.0.0:8787" and parse_bind(args.http_bind)[1] == 8787
    assert str(args.export_dir) == "/data/corpus"
    env = _env(service)
    assert env["VKSND_DB"] == "/data/vksnd.db"
    unknown = [k for k in env if k.removeprefix(ENV_PREFIX).lower() not in KEY_NAMES]
    assert unknown == [] and all(k.startswith(ENV_PREFIX) for k in env)
    resolved = resolve_settings(vars(args), env, None)  # the real loader, flags > env
    settings = resolved.settings
    assert settings.db == Path("/data/vksnd.db")
    assert settings.http_bind == "0.0.0.0:8787"
    assert settings.crawl.export_dir == Path("/data/corpus")
    assert settings.log_format == "json"
    sources = {v.key: v.source for v in resolved.values}
    assert sources["db"] == "env VKSND_DB" and sources["base_url"] == "env VKSND_BASE_URL"
    if name == "vksnd":
        assert settings.base_url == "https://vksndtc.gov.vn"
    else:
        assert settings.base_url == "http://replica:8765"
        assert settings.scope_hosts == frozenset({"replica:8765"})


def test_offline_daemon_points_at_the_replica(compose: dict[str, Any]) -> None:
    services = compose["services"]
    replica = services["replica"]
    argv = replica["command"]
    assert argv[:2] == ["vksnd", "replica"]
    options = build_parser().parse_args(argv[1:])  # the real CLI parser
    assert options.command == "replica"
    assert options.host == "0.0.0.0"  # reachable from the other container
    base_url = _env(services["vksnd-offline"])["VKSND_BASE_URL"]
    assert base_url == f"http://replica:{options.port}"
    assert services["vksnd-offline"]["depends_on"]["replica"]["condition"] == "service_healthy"
    assert f":{options.port}/" in _healthcheck_code(replica)


@pytest.mark.parametrize("name", ["vksnd", "vksnd-offline"])
async def test_healthcheck_one_liner_follows_healthz(
    compose: dict[str, Any], name: str, tmp_path: Path
) -> None:
    service = compose["services"][name]
    check = service["healthcheck"]
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)
    code = _healthcheck_code(service)
    port = parse_bind(_flag(service["command"], "--http"))[1]
    assert f"http://127.0.0.1:{port}/healthz" in code  # the daemon's own --http port
    db = tmp_path / "v.db"
    await (await SqliteStore.open(db)).close()  # a migrated, empty database
    health = Health(timedelta(minutes=30))
    api = HttpApi(Readers(db), Metrics(), health)
    _, bound = await api.start("127.0.0.1", 0)
    local = code.replace(f":{port}/", f":{bound}/")  # the same one-liner, on a free port

    async def run_check() -> int:
        # A child process, while this loop keeps serving the API.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", local, stdout=DEVNULL, stderr=DEVNULL
        )
        return await asyncio.wait_for(proc.wait(), 30)

    try:
        assert await run_check() == 0  # starting: healthy
        health.record_pass("crawl", RunOutcome.FAILED, duration_s=1.0, reason="boom")
        assert await run_check() != 0  # 503: degraded
        health.record_pass("crawl", RunOutcome.OK, duration_s=1.0)
        assert await run_check() == 0
    finally:
        await api.stop()
    assert await run_check() != 0  # nothing listening


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_runs_vksnd_as_an_unprivileged_user() -> None:
    steps = _dockerfile()
    words = [w for w, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [arg for word, arg in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    created = " ".join(arg for word, arg in steps if word == "RUN")
    assert re.search(rf"useradd\b.*\b{re.escape(users[-1])}\b", created)
    assert re.search(r"pip install (/src|\.)(\s|$)", created)
    (cmd,) = [arg for word, arg in steps if word == "CMD"]
    assert json.loads(cmd)[:2] == ["vksnd", "run"]  # exec form: signals reach the daemon
    assert words.index("USER") < words.index("CMD")
    assert ("ENV", "VKSND_DB=/data/vksnd.db") in steps
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", "venv", "*.db", "data", "tests"):
        assert entry in ignored
