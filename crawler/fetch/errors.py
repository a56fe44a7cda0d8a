"""Errors raised by fetching, as one typed tree.

    FetchError(url, reason)                         anything that kept a URL from being fetched
     ├── RetryableFetchError(url, reason, status=, retry_after=)
     │    │                                         network error, timeout, 408/429/5xx,
     │    │                                         truncated body
     │    └── RobotsUnavailable(url, reason, status=, retry_after=)
     │                                              robots.txt 5xx/unreachable: host off limits
     │                                              until we can read it again
     └── PermanentFetchError(url, reason, status=)  retrying the same request will not help
          ├── OutOfScope(url)                       host not in the configured scope
          ├── RobotsDisallowed(url)                 robots.txt says no
          ├── TooLarge(url, limit)                  decompressed body or Content-Length over cap
          ├── NotHtml(url, content_type)            recorded and skipped by the caller
          ├── RedirectRejected(url, reason, target=) off-scope target, loop, too many hops
          └── HttpStatusError(url, status)          any other 4xx (404/410 mean "gone")

httpx exceptions never leave ``crawler.fetch.fetcher``: they are translated into this tree there,
so the pipeline decides "retry later" vs "record as failed for good" by type alone. Every error
carries ``.url`` and builds its message from its data.
"""

from __future__ import annotations


class FetchError(Exception):
    """A URL could not be fetched; ``reason`` is short, human-readable and stored with the URL."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        self.attempts = 1  # set by the retry policy to the number of attempts made
        super().__init__(f"{reason}: {url}")


class RetryableFetchError(FetchError):
    """Transient: the same request may succeed later. ``retry_after`` is the server's hint (s)."""

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(url, reason, status=status)
        self.retry_after = retry_after


class RobotsUnavailable(RetryableFetchError):
    """robots.txt answered 5xx or not at all: fetch nothing there until ``retry_after`` passed.

    Retried by the daemon later, not by the in-process retry loop (waiting minutes in a worker
    would not help). A host that did not answer at all (``status`` None) is unreachable, and
    the reason says so ("network error (…)"), not that robots.txt is the problem.
    """

    def __init__(
        self,
        url: str,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        worded = reason if status is None else f"robots.txt unavailable ({reason})"
        super().__init__(url, worded, status=status, retry_after=retry_after)


class PermanentFetchError(FetchError):
    """Retrying the same request will not help; record the URL as failed, gone or skipped."""


class OutOfScope(PermanentFetchError):
    def __init__(self, url: str) -> None:
        super().__init__(url, "out of scope")


class RobotsDisallowed(PermanentFetchError):
    def __init__(self, url: str) -> None:
        super().__init__(url, "disallowed by robots.txt")


class TooLarge(PermanentFetchError):
    def __init__(self, url: str, limit: int, *, status: int | None = None) -> None:
        self.limit = limit
        super().__init__(url, f"body larger than {limit} bytes", status=status)


class NotHtml(PermanentFetchError):
    def __init__(self, url: str, content_type: str | None, *, status: int | None = None) -> None:
        self.content_type = content_type
        super().__init__(url, f"not HTML ({content_type or 'no content type'})", status=status)


class RedirectRejected(PermanentFetchError):
    """An off-scope redirect, a loop or too many hops; ``target`` is the rejected Location."""

    def __init__(
        self, url: str, reason: str, *, target: str | None = None, status: int | None = None
    ) -> None:
        self.target = target
        message = (
            f"redirect rejected ({reason})"
            if target is None
            else (f"redirect rejected ({reason} -> {target})")
        )
        super().__init__(url, message, status=status)


class HttpStatusError(PermanentFetchError):
    """A 4xx other than 408/429. ``gone`` is True for 404 and 410."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}", status=status)

    @property
    def gone(self) -> bool:
        return self.status in (404, 410)
