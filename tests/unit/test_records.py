"""Records between stages carry named fields: no positional tuples, no string-keyed bags."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import date

from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.parse_pool import ParseJob, parse_article_pages
from vksnd.crawler.crawl.passes import summary
from vksnd.parsers.records import GENERIC_EXTRACTOR, Extractor
from vksnd.storage.records import NewUrl, RunCounters, UrlKind

HEADLINE = ("listing_pages", "listing_failures", "pages_fetched", "not_modified", "new_articles",
            "new_versions", "duplicates", "unchanged", "failures", "skipped", "gone")  # fmt: skip


def test_run_counters_are_one_record_with_headline_and_detail_fields() -> None:
    counters = RunCounters(pages_fetched=3, parse_fallbacks=2, out_of_range=0)
    assert tuple(counters.headline()) == HEADLINE
    assert counters.nonzero_details() == {"parse_fallbacks": 2}
    names = {f.name for f in dataclasses.fields(RunCounters)}
    assert names == {
        *HEADLINE,
        "listing_items",
        "rechecks",
        "not_articles",
        "out_of_range",
        "dropped_on_stop",
        "parse_fallbacks",
    }
    line = summary(RunReport("crawl", counters))
    assert line.startswith("running: listing pages 0, listing failures 0, pages fetched 3")
    assert "fallbacks" not in line  # details go to the log line, not the summary


def test_extractor_is_a_record_stored_as_its_label() -> None:
    profile = Extractor("vksndtc")
    assert not profile.generic and profile.label == "profile:vksndtc"
    assert GENERIC_EXTRACTOR.generic and GENERIC_EXTRACTOR.label == "generic"


def test_parse_job_crosses_a_process_boundary() -> None:
    job = ParseJob(b"<html><body></body></html>", "https://x.vn/a", "text/html", date(2024, 1, 2))
    assert pickle.loads(pickle.dumps(job)) == job
    (parsed,) = parse_article_pages([job])
    assert parsed.article is None and parsed.not_article == "empty"


def test_new_url_names_its_fields() -> None:
    new = NewUrl("https://x.vn/a", UrlKind.LISTING)
    assert (new.url, new.kind, new.listed_on) == ("https://x.vn/a", UrlKind.LISTING, None)
