"""Settings: flags > VKSND_* env > TOML file > defaults, scope, and ``vksnd config`` output."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from vksnd.crawler.cli.common import add_settings_arguments
from vksnd.crawler.cli.main import build_parser
from vksnd.crawler.config import (
    DEFAULT_BASE_URL,
    DEFAULT_RATE,
    ConfigError,
    Settings,
    load_settings,
    resolve_settings,
    scope_for,
)
from vksnd.crawler.crawl.passes import pipeline_config
from vksnd.crawler.crawl.storage_engine import store_config

ROOT = Path(__file__).resolve().parents[2]


def flags(*argv: str) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./vksnd.toml here
    settings = load_settings(flags(), {}, None)
    assert settings == Settings()
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.db == Path("./data/vksnd.db")
    assert settings.politeness.rate == DEFAULT_RATE == 2.0
    assert settings.politeness.host_concurrency == 4
    assert settings.fetch.max_body_bytes == 10 * 1024 * 1024
    assert settings.fetch.user_agent.startswith("vksnd/")
    assert "+https://github.com/vksnd/vksnd" in settings.fetch.user_agent
    assert settings.retry.retry_after_cap == 300.0
    assert settings.crawl.recheck_days == 14 and settings.crawl.interval_minutes == 30.0
    assert settings.politeness.obey_robots is True and settings.crawl.export_dir is None


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "vksnd.toml"
    toml.write_text(
        'rate = 1.0\nhost_concurrency = 3\ndb = "from-file.db"\ncategories = [2, 10]\n'
        'log_format = "json"\n',
        encoding="utf-8",
    )
    env = {"VKSND_RATE": "3.5", "VKSND_HOST_CONCURRENCY": "5", "VKSND_EXTRACTION_BENCH": "x"}
    resolved = resolve_settings(flags("--rate", "7"), env, toml)
    settings = resolved.settings
    assert settings.politeness.rate == 7.0  # flag
    assert settings.politeness.host_concurrency == 5  # env
    assert settings.db == Path("from-file.db")  # file
    assert settings.crawl.categories == (2, 10)  # file
    assert settings.log_format == "json"
    assert settings.fetch.read_timeout == 30.0  # default
    sources = {v.key: v.source for v in resolved.values}
    assert sources["rate"] == "flag"
    assert sources["host_concurrency"] == "env VKSND_HOST_CONCURRENCY"
    assert sources["db"] == f"file {toml}"
    assert sources["read_timeout"] == "default"


def test_default_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vksnd.toml").write_text(
        '[vksnd]\nbase_url = "http://127.0.0.1:9000/"\n', encoding="utf-8"
    )
    resolved = resolve_settings({}, {}, None)
    assert resolved.config_path == Path("vksnd.toml")
    assert resolved.settings.base_url == "http://127.0.0.1:9000"


def test_contact_url_builds_the_user_agent_unless_one_is_given() -> None:
    settings = load_settings(flags("--contact-url", "mailto:me@example.org"), {}, None)
    assert settings.fetch.user_agent.endswith("(+mailto:me@example.org; research crawler)")
    settings = load_settings(flags("--user-agent", "other/1"), {"VKSND_CONTACT_URL": "x"}, None)
    assert settings.fetch.user_agent == "other/1"


def test_env_values_are_converted() -> None:
    env = {
        "VKSND_OBEY_ROBOTS": "false",
        "VKSND_CATEGORIES": "2, 20",
        "VKSND_MAX_BODY_BYTES": "2048",
        "VKSND_EXPORT_DIR": "out",
        "VKSND_LISTING_URL_TEMPLATE": "/{section}/{slug}?Page={page}",
    }
    settings = load_settings({}, env, None)
    assert settings.politeness.obey_robots is False
    assert settings.crawl.categories == (2, 20)
    assert settings.fetch.max_body_bytes == 2048
    assert settings.crawl.export_dir == Path("out")
    assert settings.profile.listing_url_template == "/{section}/{slug}?Page={page}"
    assert flags("--ignore-robots")["obey_robots"] is False


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"VKSND_RATE": "0"}, "rate"),
        ({"VKSND_RATE": "fast"}, "rate"),
        ({"VKSND_HOST_CONCURRENCY": "2.5"}, "host_concurrency"),
        ({"VKSND_PARSE_EXECUTOR": "fiber"}, "parse_executor"),
        ({"VKSND_ARCHIVE_COMPRESSION_LEVEL": "10"}, "archive_compression_level"),
        ({"VKSND_LOG_FORMAT": "xml"}, "log_format"),
        ({"VKSND_BASE_URL": "ftp://x"}, "base_url"),
        ({"VKSND_BASE_URL": "https://vksndtc.gov.vn/tin-tuc"}, "base_url"),
        ({"VKSND_OBEY_ROBOTS": "maybe"}, "obey_robots"),
        ({"VKSND_LISTING_URL_TEMPLATE": "/x?Cat={cat}"}, "listing_url_template"),
        ({"VKSND_CATEGORIES": "2,x"}, "categories"),
    ],
)
def test_bad_values_name_the_key_and_source(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env, None)
    assert caught.value.key == key
    assert caught.value.source.startswith("env VKSND_")


def test_bad_file_is_reported(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text("rat = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({}, {}, typo)
    broken = tmp_path / "broken.toml"
    broken.write_text("rate = = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings({}, {}, broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, {}, tmp_path / "missing.toml")


def test_a_renamed_key_is_refused_not_ignored(tmp_path: Path) -> None:
    """``concurrency`` became ``host_concurrency``: an old file or environment must not
    silently fall back to the default (a politeness limit quietly lifted)."""
    old = tmp_path / "old.toml"
    old.write_text("concurrency = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="renamed to host_concurrency") as caught:
        load_settings({}, {}, old)
    assert caught.value.source == f"file {old}"
    with pytest.raises(ConfigError, match="VKSND_HOST_CONCURRENCY"):
        load_settings({}, {"VKSND_CONCURRENCY": "1"}, None)


def test_tunables_are_settings_that_reach_their_users(tmp_path: Path) -> None:
    env = {"VKSND_PARSE_EXECUTOR": "process", "VKSND_STORE_BATCH": "4",
           "VKSND_ARCHIVE_PAGES": "false", "VKSND_LOG_LEVEL": "debug",
           "VKSND_FAILED_URL_BACKOFF_MINUTES": "1", "VKSND_LISTING_MAX_PAGES": "3"}  # fmt: skip
    settings = load_settings({}, env, None)
    config = pipeline_config(settings)
    assert (config.executor, config.store_batch) == ("process", 4)
    assert config.failed_url_backoff == timedelta(minutes=1)
    assert store_config(settings.storage).archive is False
    assert settings.log_level == "DEBUG"
    assert settings.crawl.listing_max_pages == 3


def test_scope_is_the_portal_aliases_or_exactly_the_given_host() -> None:
    assert scope_for("https://vksndtc.gov.vn") == frozenset(
        {"vksndtc.gov.vn", "www.vksndtc.gov.vn", "www.vks.gov.vn", "vks.gov.vn"}
    )
    assert scope_for("https://www.vks.gov.vn") == scope_for("https://vksndtc.gov.vn")
    assert scope_for("http://127.0.0.1:8123") == frozenset({"127.0.0.1:8123"})
    assert Settings(base_url="http://127.0.0.1:8123").scope_hosts == {"127.0.0.1:8123"}


def _vksnd_config(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "vksnd.crawler", "config", *argv],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_cli(
    *argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VKSND_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "vksnd.crawler", *argv], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_vksnd_config_prints_effective_settings_and_sources(tmp_path: Path) -> None:
    (tmp_path / "vksnd.toml").write_text("rate = 1.5\nrecheck_days = 7\n", encoding="utf-8")
    done = _vksnd_config("--host-concurrency", "2", env={"VKSND_RATE": "3"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split("=")[0].strip(): line for line in done.stdout.splitlines()}
    assert lines["rate"].split("#")[1].strip() == "env VKSND_RATE"
    assert "= 3.0" in lines["rate"]
    assert lines["host_concurrency"].endswith("# flag")
    assert "= 7 " in lines["recheck_days"] and "file vksnd.toml" in lines["recheck_days"]
    assert lines["max_body_bytes"].endswith("# default")
    assert "vksndtc.gov.vn" in lines["scope_hosts"]

    done = _vksnd_config("--json", "--base-url", "http://127.0.0.1:9", env={}, cwd=tmp_path)
    data = json.loads(done.stdout)
    assert data["settings"]["base_url"] == {"value": "http://127.0.0.1:9", "source": "flag"}
    assert data["settings"]["rate"] == {"value": 1.5, "source": "file vksnd.toml"}
    assert data["scope_hosts"] == ["127.0.0.1:9"]


def test_vksnd_config_rejects_a_bad_value(tmp_path: Path) -> None:
    done = _vksnd_config(env={"VKSND_RATE": "-1"}, cwd=tmp_path)
    assert done.returncode == 2
    assert "VKSND_RATE" in done.stderr and "rate" in done.stderr


@pytest.mark.parametrize(
    ("name", "hint"),
    [("VKSND_RAET", "VKSND_RATE"), ("VKSND_RECHECK_DAY", "VKSND_RECHECK_DAYS"), ("VKSND_X", None)],
)
def test_a_misspelled_environment_variable_is_refused_like_an_unknown_file_key(
    name: str, hint: str | None
) -> None:
    """b2de816: VKSND_RAET=0.5 was ignored without a word (the crawl ran at the default rate)."""
    with pytest.raises(ConfigError, match="unknown setting") as caught:
        load_settings({}, {name: "0.5"}, None)
    assert caught.value.source == f"env {name}"
    assert (hint in str(caught.value)) if hint else "did you mean" not in str(caught.value)
    typo = run_cli("stats", env={name: "0.5"})
    assert typo.returncode == 2 and "unknown setting" in typo.stderr


@pytest.mark.parametrize(
    ("value", "minutes"), [("2h", 120.0), ("45s", 0.75), ("30", 30.0), ("1.5h", 90.0)]
)
def test_interval_takes_the_same_forms_as_a_flag_in_the_environment_and_the_file(
    tmp_path: Path, value: str, minutes: float
) -> None:
    """b2de816: ``--interval 2h`` worked, VKSND_INTERVAL=2h was ignored (no such setting) and
    VKSND_INTERVAL_MINUTES=2h was refused."""
    for env in ({"VKSND_INTERVAL": value}, {"VKSND_INTERVAL_MINUTES": value}):
        assert load_settings({}, env, None).crawl.interval_minutes == minutes
    path = tmp_path / "vksnd.toml"
    path.write_text(f'interval = "{value}"\n', encoding="utf-8")
    assert load_settings({}, {}, path).crawl.interval_minutes == minutes
    parser = build_parser()
    args = parser.parse_args(["run", "--interval", value])
    assert load_settings(vars(args), {}, None).crawl.interval_minutes == minutes


def test_vksnd_config_masks_credentials_in_urls(tmp_path: Path) -> None:
    """b2de816: ``vksnd config`` printed base_url = http://bob:hunter2@host."""
    secret = {"VKSND_BASE_URL": "http://bob:hunter2@127.0.0.1:9", "VKSND_CONTACT_URL":
              "https://example.org/contact?token=s3cret"}  # fmt: skip
    for argv in (("config",), ("config", "--json")):
        done = run_cli(*argv, env=secret, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "hunter2" not in done.stdout and "s3cret" not in done.stdout
        assert "http://***@127.0.0.1:9" in done.stdout


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == "vksnd 0.1.0"
