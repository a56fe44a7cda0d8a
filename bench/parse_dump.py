"""Every ``Article`` field the parser gives on a fixed page set, as JSON lines: run it with
two checkouts' interpreters and diff the files, so a speed change is held to identical output.

    python bench/parse_dump.py OUT.jsonl [--pages N] [--extraction-bench DIR]

The pages: the parse bench's portal pages (``bench/parse.py``), the replica's other article
layouts (``<article>`` element, legacy table layout) in each page encoding (UTF-8, NFD,
windows-1258), and, given a directory, the extraction bench's stored pages (generic path,
``html/*.html.gz``). A page the parser refuses is dumped as its error's type and message.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from vksnd.fixtures.alt_layouts import encode_page as encode_alt
from vksnd.fixtures.alt_layouts import render_article_element, render_legacy
from vksnd.fixtures.generator import build_site
from vksnd.fixtures.layouts import encode_page, render_portal
from vksnd.fixtures.urls import article_path
from vksnd.parsers.article import parse_article
from vksnd.parsers.errors import ParseError

BASE = "https://vksndtc.gov.vn"
NOW = datetime.fromisoformat("2026-12-05T12:00:00+07:00")  # fixed: "not after tomorrow" rules


def pages(count: int, extraction_bench: Path | None) -> Iterator[tuple[str, bytes, str, str]]:
    """(label, body, url, content type) of every page, in a fixed order."""
    site = build_site(count, seed=11)
    for article in site[:count]:
        url = BASE + article_path(article)
        body, content_type = encode_page(render_portal(article, url), "utf-8")
        yield f"portal/{article.id}", body, url, content_type
    for article in site[: max(1, count // 5)]:
        url = BASE + article_path(article)
        for name, render in (("element", render_article_element), ("legacy", render_legacy)):
            for encoding in ("utf-8", "nfd", "windows-1258"):
                body, content_type = encode_alt(render(article, url), encoding)
                yield f"{name}-{encoding}/{article.id}", body, url, content_type
    if extraction_bench is not None:
        for path in sorted((extraction_bench / "html").glob("*.html.gz")):
            url = f"https://example.org/{path.name.removesuffix('.html.gz')}"
            yield f"bench/{path.name}", gzip.decompress(path.read_bytes()), url, "text/html"


def dump(label: str, body: bytes, url: str, content_type: str) -> dict[str, object]:
    try:
        article = parse_article(body, url, content_type, now=NOW)
    except ParseError as exc:
        return {"page": label, "error": type(exc).__name__, "message": str(exc)}
    fields = dataclasses.asdict(article)
    if article.published_at is not None:
        fields["published_at"] = article.published_at.isoformat()
        fields["tzname"] = article.published_at.tzname()
    return {"page": label, **fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--extraction-bench", type=Path)
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as out:
        for page in pages(args.pages, args.extraction_bench):
            out.write(json.dumps(dump(*page), ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
