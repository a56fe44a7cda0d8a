"""The settings' flat keys come from the settings dataclasses' fields: every field is a key, once,
and every settings flag is one of them (one name used as TOML key, ``VKSND_*`` and flag)."""

from __future__ import annotations

import argparse
import dataclasses

from vksnd.crawler.cli.common import add_settings_arguments
from vksnd.crawler.config import CONTACT_URL_KEY, KEYS, SECTIONS, Settings, current_value


def _leaf_fields() -> set[tuple[str, str]]:
    leaves = set()
    for field in dataclasses.fields(Settings):
        if field.name in SECTIONS:
            leaves.update(
                (field.name, inner.name) for inner in dataclasses.fields(SECTIONS[field.name])
            )
        else:
            leaves.add(("", field.name))
    return leaves


def test_every_settings_field_is_one_key() -> None:
    assert {(key.section, key.field) for key in KEYS} == _leaf_fields()
    names = [key.name for key in KEYS]
    assert len(names) == len(set(names)), "two fields share a key"
    assert set(SECTIONS) == {"fetch", "politeness", "retry", "crawl", "storage", "service"}


def test_keys_read_back_the_defaults() -> None:
    defaults = Settings()
    for key in KEYS:
        holder = defaults if key.section == "" else getattr(defaults, key.section)
        assert current_value(defaults, key.name) == getattr(holder, key.field)
        assert key.help, key.name


def test_every_settings_flag_is_a_key() -> None:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    dests = {action.dest for action in parser._actions} - {"help", "config"}
    assert dests <= {key.name for key in KEYS} | {CONTACT_URL_KEY}


def test_the_three_concurrencies_have_three_names() -> None:
    names = {key.name for key in KEYS if "concurrency" in key.name}
    assert names == {"host_concurrency", "global_concurrency"}  # fetch workers: derived
