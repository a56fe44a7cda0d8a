"""Errors raised by the parsers package.

    ParseError(url, reason)            anything the parser refuses; carries the URL
     ├── NotAnArticle(url, kind)       a listing, an error page, an empty or script-only page
     └── PageTooComplex(url, reason)   input past a cap (body size, nesting depth)
    ProfileError(source, key, problem) a site profile that cannot be used; names the key

Nothing else escapes ``parsers``: third-party errors are translated here at the boundary.
"""

from __future__ import annotations


class ParseError(Exception):
    """The page could not be turned into a record."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{reason}: {url}")


class NotAnArticle(ParseError):
    """The page is a real page, but not an article (``kind``: listing, error_page, empty...)."""

    def __init__(self, url: str, kind: str) -> None:
        self.kind = kind
        super().__init__(url, f"not an article ({kind})")


class PageTooComplex(ParseError):
    """The page exceeds a parser cap (size, nesting) and was not parsed."""


class ProfileError(Exception):
    """A site profile file is wrong: one line naming the file (or built-in), the key and why."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{key}: " if key else ""
        super().__init__(f"profile {source}: {where}{problem}")
