"""The drift alarm: how often each profile key matched in a pass, and when one stops matching.

A site redesign does not break a crawl loudly: the profile's selectors just stop matching and
the generic path reads the pages instead (selector-free listing discovery, the generic article
extractor). So every pass counts, per profile key, the pages where the key matched
(``KeyHits``); a key that matched none of its pages is *silent*. ``DriftWatch`` remembers the
last pass's silent keys: one WARNING when a key falls silent, one INFO when it matches again
(per state change, not per page), and ``degraded`` lines for ``/healthz``:
``profile key "listing.item" matched 0 of 12 listing pages``.

Keys counted (only those the profile sets): ``listing.item``, ``listing.next`` and
``urls.article`` per listing page, ``selectors.body`` per article page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger("vksnd.drift")

PAGES_OF = {
    "listing.item": "listing pages",
    "listing.next": "listing pages",
    "urls.article": "listing pages",
    "selectors.body": "article pages",
}


@dataclass(slots=True)
class KeyHits:
    """Per profile key: pages where it matched, pages where it was tried."""

    counts: dict[str, list[int]] = field(default_factory=dict)

    def record(self, key: str, hit: bool) -> None:
        tally = self.counts.setdefault(key, [0, 0])
        tally[0] += int(hit)
        tally[1] += 1

    def record_all(self, hits: tuple[tuple[str, bool], ...]) -> None:
        for key, hit in hits:
            self.record(key, hit)

    def ratios(self) -> dict[str, float]:
        return {key: hit / tried for key, (hit, tried) in self.counts.items() if tried}

    def silent(self) -> dict[str, int]:
        """Keys that matched none of the pages they were tried on: key -> pages tried."""
        return {key: tried for key, (hit, tried) in self.counts.items() if tried and not hit}


def silent_line(key: str, tried: int) -> str:
    return f'profile key "{key}" matched 0 of {tried} {PAGES_OF.get(key, "pages")}'


@dataclass(slots=True)
class DriftWatch:
    """What the last pass said about each key, so changes are logged once, not every pass."""

    silent: dict[str, int] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)

    def update(self, hits: KeyHits, profile: str) -> None:
        """Take one pass's counts: warn for a key newly silent, note one matching again. Keys
        not tried in the pass keep their state (a pass that read no listing says nothing)."""
        tried = {key for key, (_, n) in hits.counts.items() if n}
        now_silent = hits.silent()
        for key, pages in now_silent.items():
            if key not in self.silent:
                log.warning(
                    f"{silent_line(key, pages)} of profile {profile!r}: the site may have"
                    " changed; pages are read by the generic path meanwhile, and"
                    " `vksnd reparse` re-reads them once the profile is fixed",
                    extra={"event": "profile_drift", "key": key, "pages": pages},
                )
        for key in list(self.silent):
            if key in tried and key not in now_silent:
                log.info(
                    f'profile key "{key}" matches again',
                    extra={"event": "profile_drift_cleared", "key": key},
                )
                del self.silent[key]
        self.silent.update(now_silent)
        self.ratios.update(hits.ratios())

    def degraded(self) -> list[str]:
        return [silent_line(key, pages) for key, pages in sorted(self.silent.items())]

    def snapshot(self) -> Mapping[str, float]:
        return dict(self.ratios)
