"""The time the fetch room runs on, injectable so tests neither wait nor race the real clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Clock = Callable[[], float]  # monotonic seconds (time.monotonic)
Sleep = Callable[[float], Awaitable[None]]  # asyncio.sleep
