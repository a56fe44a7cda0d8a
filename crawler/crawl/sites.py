"""Several sites in one crawl: each site's settings, resources and pass, and the run they make.

``sites = [...]`` (``vksnd.crawler.sites``) names the sites. Each gets settings of its own
(``plan_sites``): its profile, base URL, scope hosts, categories and listing template, and its
politeness (rate and concurrency, robots.txt, slow-downs). Each site has a ``Fetcher`` of its
own, so one site's 503s, Retry-After waits or robots.txt trouble never hold a request of
another; the store (one writer, one file) and the parse pool are shared.

A pass runs every site's pass at once (``run_sites``), each recorded as its own run with its
site; the overall outcome is the worst of them (failed > interrupted > partial > ok), its reason
names the sites that were not ok, and its counters are the sum.

With no ``sites`` set there is one site, the one ``profile`` chooses, and everything is as it
was for a single site.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from vksnd.crawler.config import ConfigError, Settings, SiteEntry, site_name
from vksnd.crawler.crawl.outcomes import RunReport
from vksnd.crawler.crawl.parse_pool import ParsePool
from vksnd.crawler.crawl.passes import CrawlResources, pipeline_config
from vksnd.crawler.crawl.storage_engine import WriterStore, open_store
from vksnd.crawler.fetch.fetcher import Fetcher, FetchStats
from vksnd.parsers.errors import ProfileError
from vksnd.parsers.profiles.load import load_profile
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.urls import article_key_text
from vksnd.storage.records import RunCounters, RunOutcome
from vksnd.storage.sites import SiteMap

# The worst outcome of the sites is the run's.
_SEVERITY = {
    RunOutcome.OK: 0,
    RunOutcome.PARTIAL: 1,
    RunOutcome.INTERRUPTED: 2,
    RunOutcome.FAILED: 3,
}

SitePass = Callable[[CrawlResources, asyncio.Event, RunReport], Awaitable[RunReport]]


@dataclass(frozen=True, slots=True)
class SitePlan:
    name: str
    settings: Settings


def plan_sites(settings: Settings) -> tuple[SitePlan, ...]:
    """Each site's settings. Raises ``ConfigError`` naming a site whose profile is bad."""
    if not settings.sites:
        return (SitePlan(site_name(settings.profile), settings),)
    return tuple(SitePlan(entry.name, _site_settings(settings, entry)) for entry in settings.sites)


def _site_settings(settings: Settings, entry: SiteEntry) -> Settings:
    try:
        profile = load_profile(entry.profile_ref)
    except ProfileError as exc:
        key = f"sites.{entry.name}.profile"
        raise ConfigError(key, entry.profile_ref, "sites", str(exc)) from None
    politeness = settings.politeness
    if entry.rate is not None:
        politeness = dataclasses.replace(politeness, rate=entry.rate)
    if entry.host_concurrency is not None:
        politeness = dataclasses.replace(politeness, host_concurrency=entry.host_concurrency)
    crawl = dataclasses.replace(
        settings.crawl,
        listing_url_template=profile.listing_url_template,
        categories=profile.category_keys,
    )
    return with_profile(
        dataclasses.replace(
            settings,
            base_url=entry.base_url or profile.base_url,
            politeness=politeness,
            crawl=crawl,
            sites=(),
        ),
        profile,
    )


def with_profile(settings: Settings, profile: SiteProfile) -> Settings:
    """``settings`` crawling ``profile``'s site."""
    return dataclasses.replace(settings, site_profile=profile)


def site_map(plans: Sequence[SitePlan]) -> SiteMap:
    """Whose rows are whose: each site's scope hosts."""
    return SiteMap.of({plan.name: plan.settings.scope_hosts for plan in plans})


@dataclass(frozen=True, slots=True)
class SiteRules:
    """What the store and a reparse need of several sites: whose URL is whose, each URL's
    article key by its site's profile, and each site's profile."""

    sites: SiteMap
    profiles: dict[str, SiteProfile]
    default: SiteProfile

    @classmethod
    def of(cls, plans: Sequence[SitePlan]) -> SiteRules:
        return cls(
            site_map(plans),
            {plan.name: plan.settings.profile for plan in plans},
            plans[0].settings.profile,
        )

    def profile_of(self, url: str) -> SiteProfile:
        return self.profiles.get(self.sites.site_of(url), self.default)

    def url_key(self, url: str) -> str | None:
        return article_key_text(url, self.profile_of(url))


async def open_sites_store(
    settings: Settings, plans: Sequence[SitePlan], *, wait: bool = False
) -> WriterStore:
    """The store, knowing the sites: rows get their site, URLs their site's article key."""
    rules = SiteRules.of(plans)
    return await open_store(
        settings.db,
        settings.storage,
        wait=wait,
        profile=rules.default,
        sites=rules.sites,
        url_key=rules.url_key,
    )


@asynccontextmanager
async def open_sites(
    settings: Settings, *, in_daemon: bool = False, wait: bool = False, dry_run: bool = False
) -> AsyncIterator[tuple[CrawlResources, ...]]:
    """Every site's ``CrawlResources``: one store and parse pool shared, a fetcher each."""
    plans = plan_sites(settings)
    store = await open_sites_store(settings, plans, wait=wait)
    config = pipeline_config(settings, dry_run=dry_run)
    pool = ParsePool(config.executor, config.parse_workers)
    try:
        async with AsyncExitStack() as stack:
            resources = []
            stats = FetchStats()  # one set of fetch counters for all (metrics, logs)
            for plan in plans:
                fetcher = await stack.enter_async_context(Fetcher(plan.settings))
                fetcher.stats = stats
                resources.append(
                    CrawlResources(
                        plan.settings,
                        store,
                        fetcher,
                        pool,
                        pipeline_config(plan.settings, dry_run=dry_run),
                        in_daemon,
                        site=plan.name,
                    )
                )
            yield tuple(resources)
    finally:
        pool.close()
        await store.close()


@dataclass(slots=True)
class SitesReport:
    """A pass over every site: the overall report and each site's."""

    overall: RunReport
    # each site's report, when there are several (one site: ``overall`` alone)
    by_site: dict[str, RunReport] = dataclasses.field(default_factory=dict)


async def run_sites(
    resources: Sequence[CrawlResources],
    stop: asyncio.Event,
    report: SitesReport,
    run_pass: SitePass,
) -> SitesReport:
    """``run_pass`` on every site at once; ``report.overall`` is their combination. A site's
    pass that raises does not stop the others; the first such error is raised once all ended."""
    if len(resources) == 1:  # the site's report is the overall one (``by_site`` stays empty)
        await run_pass(resources[0], stop, report.overall)
        return report
    for each in resources:
        report.by_site[each.site or ""] = RunReport(report.overall.kind)
    results = await asyncio.gather(
        *(run_pass(each, stop, report.by_site[each.site or ""]) for each in resources),
        return_exceptions=True,
    )
    combine(report.overall, report.by_site)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return report


def combine(overall: RunReport, by_site: dict[str, RunReport]) -> None:
    """Counters summed, the worst outcome, the reasons of the sites that were not ok."""
    totals = RunCounters()
    for site, site_report in by_site.items():
        for field in dataclasses.fields(RunCounters):
            name = field.name
            setattr(totals, name, getattr(totals, name) + getattr(site_report.counters, name))
        overall.reasons.update(site_report.reasons)
        overall.scope_notes.extend(f"{site}: {n}" for n in site_report.scope_notes)
    overall.counters = totals
    judged = [(site, r) for site, r in by_site.items() if r.outcome is not None]
    if not judged:
        return
    overall.outcome = max((r.outcome for _, r in judged if r.outcome), key=_SEVERITY.__getitem__)
    not_ok = [
        f"{site}: {r.outcome.value}" + (f" ({r.reason})" if r.reason else "")
        for site, r in judged
        if r.outcome is not None and r.outcome is not RunOutcome.OK
    ]
    overall.reason = "; ".join(not_ok) or None
    errors = [r.error for _, r in judged if r.error]
    overall.error = errors[0] if errors else None
