"""README's ``/articles?limit`` bounds are the HTTP API's own (issue #14: they disagreed).

What the API does with them (a larger limit capped, 0 refused with a 400) is run in
``tests/integration/test_http_api.py``."""

from __future__ import annotations

from support.docs import README
from vksnd.crawler.service.http_api import DEFAULT_LIMIT, MAX_LIMIT


def test_the_readme_states_the_feed_limits_of_the_code() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert f"`limit` ≤ {MAX_LIMIT}, default {DEFAULT_LIMIT}" in text
