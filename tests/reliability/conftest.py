"""Fixtures of the reliability tests: ``small_fs`` (a real tmpfs, ``support.disk``)."""

from support.disk import small_fs

__all__ = ["small_fs"]
