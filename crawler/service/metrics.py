"""The daemon's Prometheus metrics, in a registry of its own (never the process-global one).

Three sources, each read where it already lives instead of mirrored into globals:
- the fetcher's ``FetchStats`` (requests by status class, retries, bytes…), read live at each
  scrape: they count since the fetcher opened, which is the life of the daemon;
- the counters of each finished pass (``RunCounters``: articles stored, versions, duplicates,
  parse fallbacks…) and its duration, added by ``record_pass``;
- the database's state (frontier size by URL state, failures logged by reason, stored articles),
  from a ``StorageStats`` snapshot the HTTP handler takes just before rendering.

``Metrics`` is created by the command that runs the daemon and handed to the daemon and to the
HTTP API; two daemons in one process (tests) never share a counter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vksnd.crawler.fetch.fetcher import FetchStats
from vksnd.storage.records import RunCounters, RunOutcome, StorageStats

PREFIX = "vksnd"
# A pass takes seconds on the replica and up to hours on a first crawl of the portal.
PASS_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, float("inf"))

# metric name without prefix/suffix, help, the pass counter it adds up
_PASS_COUNTERS: tuple[tuple[str, str, Callable[[RunCounters], int]], ...] = (
    ("pages_fetched", "Pages fetched and parsed by finished passes.", lambda c: c.pages_fetched),
    ("pages_not_modified", "Conditional re-checks answered 304.", lambda c: c.not_modified),
    ("articles_stored", "New articles stored (first version of a text).", lambda c: c.new_articles),
    ("versions_stored", "New versions of known articles stored (edits).", lambda c: c.new_versions),
    (
        "duplicates",
        "Pages whose text was already stored under another URL.",
        lambda c: c.duplicates,
    ),
    ("unchanged", "Re-fetched pages whose text had not changed.", lambda c: c.unchanged),
    (
        "page_failures",
        "Pages that failed (fetch or parse) in finished passes.",
        lambda c: c.failures,
    ),
    (
        "pages_skipped",
        "Pages skipped (too large, redirect, not HTML, robots, parse): retried after days.",
        lambda c: c.skipped,
    ),
    ("pages_gone", "Article pages answering 404/410.", lambda c: c.gone),
    ("listing_pages", "Listing pages walked.", lambda c: c.listing_pages),
    (
        "listing_failures",
        "Listing pages that could not be read (queued for a retry).",
        lambda c: c.listing_failures,
    ),
    (
        "parse_fallbacks",
        "Article pages the site profile did not match, extracted by the generic extractor.",
        lambda c: c.parse_fallbacks,
    ),
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._fetch_stats: FetchStats | None = None
        self._storage: StorageStats | None = None
        reg = self.registry
        self._passes = Counter(
            f"{PREFIX}_passes", "Finished passes by kind and outcome (ok, partial, failed,"
            " interrupted).", ["kind", "outcome"], registry=reg,
        )  # fmt: skip
        self._duration = Histogram(
            f"{PREFIX}_pass_duration_seconds", "Wall time of finished passes.", ["kind"],
            buckets=PASS_BUCKETS, registry=reg,
        )  # fmt: skip
        self._last_success = Gauge(
            f"{PREFIX}_last_successful_pass_timestamp_seconds",
            "Unix time the last crawl pass that did its work (ok or partial) ended (0: none yet).",
            registry=reg,
        )
        self._counters = [
            (Counter(f"{PREFIX}_{name}", doc, registry=reg), count)
            for name, doc, count in _PASS_COUNTERS
        ]
        self._key_hits = Gauge(
            f"{PREFIX}_profile_key_hit_ratio",
            "Share of the last pass's pages where a profile key matched (listing.item,"
            " listing.next, urls.article per listing page; selectors.body per article page).",
            ["key"],
            registry=reg,
        )
        self._exports = Counter(
            f"{PREFIX}_exports", "Corpus folder refreshes by outcome.", ["outcome"], registry=reg
        )
        self._exported = Counter(
            f"{PREFIX}_exported_files", "Files written into the corpus folder.", registry=reg
        )
        reg.register(_LiveCollector(self))

    def watch_fetcher(self, stats: FetchStats) -> None:
        """The fetcher whose counters /metrics shows (the daemon's session fetcher)."""
        self._fetch_stats = stats

    def update_storage(self, stats: StorageStats | None) -> None:
        """The database snapshot for the next render; None when the database is unreadable."""
        self._storage = stats

    def record_pass(
        self,
        kind: str,
        outcome: RunOutcome,
        *,
        duration_s: float,
        counters: RunCounters | None,
        finished_at: float,
    ) -> None:
        """Add a finished pass by its outcome; ``finished_at`` is Unix time."""
        self._passes.labels(kind, outcome.value).inc()
        self._duration.labels(kind).observe(max(duration_s, 0.0))
        if kind == "crawl" and outcome in (RunOutcome.OK, RunOutcome.PARTIAL):
            self._last_success.set(finished_at)
        if counters is None:
            return
        for counter, count in self._counters:
            counter.inc(count(counters))

    def record_key_hits(self, ratios: dict[str, float]) -> None:
        """The hit ratio of each profile key tried in the last pass (the drift alarm)."""
        for key, ratio in ratios.items():
            self._key_hits.labels(key).set(ratio)

    def record_export(self, *, ok: bool, written: int) -> None:
        self._exports.labels("ok" if ok else "failed").inc()
        self._exported.inc(written)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    """Families read at scrape time from the fetcher and the last database snapshot."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        stats = self._metrics._fetch_stats
        if stats is not None:
            yield from _fetch_families(stats)
        storage = self._metrics._storage
        up = GaugeMetricFamily(
            f"{PREFIX}_database_up", "1 if the database could be read for this scrape."
        )
        up.add_metric([], 0.0 if storage is None else 1.0)
        yield up
        if storage is not None:
            yield from _storage_families(storage)


def _fetch_families(stats: FetchStats) -> Iterator[Metric]:
    by_class = CounterMetricFamily(
        f"{PREFIX}_fetch_responses",
        "HTTP responses received, by status class (robots.txt and redirect hops included).",
        labels=["status_class"],
    )
    for status_class, count in sorted(stats.by_status_class.items()):
        by_class.add_metric([status_class], count)
    yield by_class
    errors = CounterMetricFamily(
        f"{PREFIX}_fetch_errors", "Requests that got no response, by kind.", labels=["kind"]
    )
    errors.add_metric(["network"], stats.network_errors)
    errors.add_metric(["timeout"], stats.timeouts)
    yield errors
    singles = (
        ("fetch_requests", "HTTP requests sent.", stats.requests),
        ("fetch_retries", "Fetch attempts retried after a retryable error.", stats.retries),
        ("fetch_bytes", "Decoded response body bytes received.", stats.bytes_received),
        ("fetch_not_modified", "Responses 304 Not Modified.", stats.not_modified),
        ("fetch_slowdowns", "Times a host was slowed down after 429/503.", stats.slowdowns),
        ("robots_fetches", "robots.txt fetches.", stats.robots_fetches),
    )
    for name, doc, value in singles:
        yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)


def _storage_families(storage: StorageStats) -> Iterator[Metric]:
    frontier = GaugeMetricFamily(
        f"{PREFIX}_frontier_urls", "URLs known to the frontier, by state.", labels=["state"]
    )
    for state, count in storage.urls_by_state:
        frontier.add_metric([state], count)
    yield frontier
    failures = CounterMetricFamily(
        f"{PREFIX}_failures",
        "Failed fetches logged in the database, by reason (the most frequent reasons).",
        labels=["reason"],
    )
    for reason, count in storage.failures_by_reason:
        failures.add_metric([reason], count)
    yield failures
    gauges = (
        ("db_articles", "Distinct articles stored.", storage.articles),
        ("db_versions", "Article versions stored, every edit counted.", storage.versions),
        ("db_bytes", "Database file size, WAL included.", storage.db_bytes),
    )
    for name, doc, value in gauges:
        yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)
