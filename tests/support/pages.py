"""Pages shared by the parser and hostile-input tests."""

from __future__ import annotations

from vksnd.fixtures.layouts import render_portal
from vksnd.fixtures.seed_articles import seed_articles
from vksnd.fixtures.urls import article_path

BASE = "https://vksndtc.gov.vn"
SEED = seed_articles()[1]
URL = BASE + article_path(SEED)
PORTAL_HTML = render_portal(SEED, URL)

CATEGORY = 2  # the category of the hostile portal's pages


def hostile_article_path(number: int) -> str:
    """An article URL of the hostile portal (``tests/support/loopback.py`` serves it)."""
    return f"/tin-tuc/tin-hoat-dong/trang-doc-hai-so-{number}-d{CATEGORY}-t{number}.html"
