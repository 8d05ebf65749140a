"""A bounded pool of worker threads that runs request parsing and inference off the event loop.

The event loop only moves bytes; JSON parsing, validation and the model run in ``threads`` worker
threads (as many as cores), so ``/health`` and the other requests keep being answered while one
client posts large bodies. At most ``waiting`` requests are admitted (running or queued); one more
is told to come back (HTTP 503 with Retry-After) instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Busy(Exception):
    """Every admitted slot is taken: the request should be retried later (HTTP 503)."""


class Workers:
    """``admit()`` reserves one of ``waiting`` slots (or raises Busy); ``run`` executes in a worker thread."""

    def __init__(self, threads: int | None = None, waiting: int | None = None) -> None:
        self.threads = threads or os.cpu_count() or 1
        self.waiting = waiting or max(32, 8 * self.threads)  # 32 bodies of 8 MB at most: 256 MB held
        self.admitted = 0  # touched only on the event loop's thread, so a plain counter is safe
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="lamina-serve")

    def admit(self) -> None:
        """Reserve a slot for one request, or raise Busy when ``waiting`` are already admitted."""
        if self.admitted >= self.waiting:
            raise Busy
        self.admitted += 1

    def release(self) -> None:
        """Free the slot of a request that has been answered."""
        self.admitted -= 1

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker thread, awaited on the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        """Stop the worker threads once the running calls end."""
        self._pool.shutdown(wait=True)
