"""Typed records that leave the parsers package.

These are the only parser types other packages may depend on (storage imports them to persist
articles; the crawler passes them along). They are frozen so a record cannot change between the
stage that made it and the stage that stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Extractor:
    """The path that produced an article's body: the named site profile's selectors, or the
    generic extractor when the profile missed (``profile`` None). Stored as its ``label``."""

    profile: str | None = None

    @property
    def generic(self) -> bool:
        return self.profile is None

    @property
    def label(self) -> str:
        """``profile:<name>`` or ``generic``: the form the database and the export keep."""
        return "generic" if self.profile is None else f"profile:{self.profile}"


GENERIC_EXTRACTOR = Extractor()


@dataclass(frozen=True, slots=True)
class Article:
    """One article page, extracted.

    ``text`` is the clean body (paragraphs separated by one blank line, NFC, no captions, no
    chrome, no byline). ``content_hash`` is the sha256 hex of the canonical form of ``text``
    (see ``vksnd.parsers.hashing``): two spellings of the same article hash the same.
    ``extractor`` says which path produced the body (the site profile or the generic extractor).
    ``published_date_only``: the page printed a date without a time of day.
    """

    url: str
    canonical_url: str
    title: str
    published_at: datetime | None
    author: str | None
    category: str | None
    text: str
    captions: tuple[str, ...]
    images: tuple[str, ...]
    content_hash: str
    extractor: Extractor
    # The page gave a date but no time of day: ``published_at`` is that day's midnight in
    # Vietnam time, kept for ordering; storage and output say the date alone.
    published_date_only: bool = False
    # The article's key across its URL forms, from the site profile (the article regex's ``id``
    # group or a legacy form's id parameter; ``"<site>:<id>"`` off the default site): storage
    # joins a legacy URL of a stored article by it. None: the URL carries no id.
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ListingItem:
    """One article link found on a category listing (or any page)."""

    url: str
    title: str | None
    published_on: date | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class Listing:
    """A category listing page: its article items in page order and the next page, if any."""

    url: str
    items: tuple[ListingItem, ...]
    next_page_url: str | None
