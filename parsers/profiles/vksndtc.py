"""The built-in default profile, ``vksndtc.toml``, loaded once: for code and tests that run on
the built-in portal. A command's *configured* profile is ``Settings.profile``; pass it down."""

from __future__ import annotations

from vksnd.parsers.profiles.load import DEFAULT_PROFILE_NAME, builtin_profile
from vksnd.parsers.profiles.model import Category, Selectors, SiteProfile

PROFILE: SiteProfile = builtin_profile(DEFAULT_PROFILE_NAME)

__all__ = ["PROFILE", "Category", "Selectors", "SiteProfile"]
