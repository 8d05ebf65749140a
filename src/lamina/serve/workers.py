"""A bounded pool of workers that runs request parsing and inference off the event loop.

The event loop only moves bytes; JSON parsing, validation and the model run in workers, so ``/health``
and the other requests keep being answered while one client posts large bodies. At most ``waiting``
requests are admitted (running or queued); one more is told to come back (HTTP 503 with Retry-After)
instead of queueing without end.

The workers are threads, or (``processes=True``, what ``lamina serve`` uses) processes: parsing a
7.6 MB JSON body holds a thread's GIL for most of its 100-200 ms, and in a thread that stalls the event
loop's thread with it. A process pool's workers are started (spawned, so no lock or thread of the
server is inherited) by :meth:`Workers.start`, each running ``initializer(*initargs)`` once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
MAX_PROCESSES = 8  # each worker process holds its own copy of torch and the model


class Busy(Exception):
    """Every admitted slot is taken: the request should be retried later (HTTP 503)."""


class Workers:
    """``admit()`` reserves one of ``waiting`` slots (or raises Busy); ``run`` executes in a worker.

    ``threads`` workers (default: one per core; with ``processes``, at most ``MAX_PROCESSES``).
    """

    def __init__(self, threads: int | None = None, waiting: int | None = None, processes: bool = False) -> None:
        cores = os.cpu_count() or 1
        self.processes = processes
        self.threads = threads or (min(cores, MAX_PROCESSES) if processes else cores)
        self.waiting = waiting or max(32, 8 * self.threads)  # 32 bodies of 8 MB at most: 256 MB held
        self.admitted = 0  # touched only on the event loop's thread, so a plain counter is safe
        self._pool: Executor | None = None if processes else ThreadPoolExecutor(max_workers=self.threads,
                                                                                thread_name_prefix="lamina-serve")

    async def start(self, initializer: Callable[..., Any] | None = None, *initargs: Any) -> None:
        """Start the worker processes (each runs ``initializer(*initargs)`` once) and wait until all are up.

        Nothing to do for threads. A module-level ``initializer`` and picklable ``initargs``, as for
        :class:`concurrent.futures.ProcessPoolExecutor`.
        """
        if not self.processes or self._pool is not None:  # checked and set with no await between: once
            return
        import multiprocessing

        self._pool = ProcessPoolExecutor(max_workers=self.threads, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=initializer, initargs=initargs)
        loop = asyncio.get_running_loop()
        # as many calls at once as workers: the pool starts one process per waiting call
        await asyncio.gather(*(loop.run_in_executor(self._pool, os.getpid) for _ in range(self.threads)))

    def admit(self) -> None:
        """Reserve a slot for one request, or raise Busy when ``waiting`` are already admitted."""
        if self.admitted >= self.waiting:
            raise Busy
        self.admitted += 1

    def release(self) -> None:
        """Free the slot of a request that has been answered."""
        self.admitted -= 1

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in a worker, awaited on the event loop (a process pool's must pickle).

        A worker process that died (killed, out of memory) breaks its pool: the call raises Busy (a 503,
        to be retried) and the next :meth:`start` spawns a fresh pool.
        """
        from concurrent.futures.process import BrokenProcessPool

        pool = self._pool
        if pool is None:
            raise RuntimeError("the worker processes are not started; await Workers.start() first")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False)
            raise Busy from None

    def close(self) -> None:
        """Stop the workers once the running calls end."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
