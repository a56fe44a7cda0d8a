"""``vksnd replica``: the offline replica of the portal, to try vksnd with no internet.

The replica ships inside the package (``vksnd.fixtures``); it is what the test suite crawls.
"""

from __future__ import annotations

from vksnd.fixtures.portal.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
