"""Where the parse step runs: off the event loop, in a thread or process pool.

CPU-heavy pages must not stall the event loop for the other fetches. Threads are the default:
at polite rates parsing is far from the limit and a process pool's children cost ~25 MiB of RSS.
With politeness lifted, pages sent in batches (``parse_article_pages``), the process pool wins
at 32 fetches on two cores (``bench/crawl.py``: ~460 pages/s against ~410): parse threads hold
the GIL the event loop needs. Parser errors cross the pool as data (``Parsed``): they do not
survive pickling (their ``__init__`` takes two arguments).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar, TypeVarTuple, Unpack

from vksnd.crawler.config import ExecutorKind
from vksnd.parsers.article import DEFAULT_LIMITS, DEFAULT_MAX_BYTES, ParseLimits, parse_article
from vksnd.parsers.errors import NotAnArticle, ParseError
from vksnd.parsers.profiles.model import SiteProfile
from vksnd.parsers.profiles.vksndtc import PROFILE
from vksnd.parsers.records import Article
from vksnd.storage.archive import decode_body

R = TypeVar("R")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Parsed:
    """The parse step's verdict. Errors travel as data: they must cross a process boundary."""

    article: Article | None
    not_article: str | None = None  # NotAnArticle.kind
    error: str | None = None  # ParseError.reason


def start_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run, workers just end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker holds both ends of the pool's task pipe and the fork server's liveness pipe, so
    # neither tells it the parent is gone: were the parent killed, the workers and the fork
    # server would wait for tasks forever. The parent's sentinel does tell.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


class ParsePool:
    """The executor parsing runs in, so CPU-heavy pages do not stall the event loop."""

    def __init__(self, kind: ExecutorKind, workers: int) -> None:
        self.kind = kind
        self._executor: concurrent.futures.Executor
        if kind == "process":
            context = multiprocessing.get_context("forkserver")
            self._executor = concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=context, initializer=start_worker
            )
        else:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="vksnd-parse"
            )

    async def run(self, fn: Callable[[Unpack[Ts]], R], *args: *Ts) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class ParseJob:
    """One fetched page for the parse step (it may cross to a worker process)."""

    body: bytes
    url: str  # the final URL, after redirects
    content_type: str | None
    listing_date: date | None  # the date a listing showed beside the link, a date fallback
    max_bytes: int = DEFAULT_MAX_BYTES  # the fetcher's max_body_bytes: the parser takes as much
    # The configured site profile (it pickles: a process pool's worker gets it with the job).
    profile: SiteProfile = PROFILE


def parse_article_page(job: ParseJob) -> Parsed:
    """The parse step's body; module-level so a process pool can pickle it."""
    limits = DEFAULT_LIMITS if job.max_bytes == DEFAULT_MAX_BYTES else _limits(job.max_bytes)
    try:
        article = parse_article(
            job.body,
            job.url,
            job.content_type,
            profile=job.profile,
            listing_date=job.listing_date,
            limits=limits,
        )
    except NotAnArticle as exc:
        return Parsed(None, not_article=exc.kind)
    except ParseError as exc:
        return Parsed(None, error=exc.reason)
    return Parsed(article)


def _limits(max_bytes: int) -> ParseLimits:
    return dataclasses.replace(DEFAULT_LIMITS, max_bytes=max_bytes)


def parse_article_pages(jobs: Sequence[ParseJob]) -> list[Parsed]:
    """Several pages in one executor call. A thread-pool call costs ~0.1 ms of CPU (wake-ups,
    a future, its callback) and a process-pool call far more, so a backlog goes in one call."""
    return [parse_article_page(job) for job in jobs]


@dataclass(frozen=True, slots=True)
class ReparseJob:
    """One archived page for ``vksnd reparse``: what the parser needs and the hash to compare
    with, so a worker process sends back an article only when its text changed."""

    body: bytes  # as archived: inflated in the worker
    codec: str  # archive.decode_body's
    url: str
    content_type: str | None
    listing_date: date | None
    content_hash: str | None  # the hash the URL showed when last stored
    profile: SiteProfile = PROFILE  # the page's site's (a built-in one pickles by name)


@dataclass(frozen=True, slots=True)
class Reparsed:
    """A reparse verdict: ``article`` only when the text differs from the stored one (an
    unchanged page sends nothing back across the pool but the verdict)."""

    article: Article | None = None
    unchanged: bool = False
    not_article: str | None = None  # NotAnArticle.reason
    error: str | None = None  # ParseError.reason


_UNCHANGED = Reparsed(unchanged=True)


def reparse_pages(jobs: Sequence[ReparseJob]) -> list[Reparsed]:
    """Re-extract a chunk of archived pages; module-level so a process pool can pickle it."""
    out: list[Reparsed] = []
    for job in jobs:
        try:
            body = decode_body(job.codec, job.body)
            article = parse_article(
                body,
                job.url,
                job.content_type,
                profile=job.profile,
                listing_date=job.listing_date,
            )
        except NotAnArticle as exc:
            out.append(Reparsed(not_article=exc.reason))
            continue
        except ParseError as exc:
            out.append(Reparsed(error=exc.reason))
            continue
        out.append(_UNCHANGED if article.content_hash == job.content_hash else Reparsed(article))
    return out
