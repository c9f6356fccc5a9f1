"""One thread pool for blocking tool work, sized for tools that wait, not for CPU count.

`asyncio.to_thread` uses the loop's default executor, which has ``cpu + 4`` workers: on a
2-core machine, 8 parallel tools of 0.5 s would take 1 s. Threads here are started on demand.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
MAX_TOOL_THREADS = 64
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=MAX_TOOL_THREADS, thread_name_prefix="mentra-tool")
    return _pool


async def run_blocking(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``func`` in the tool thread pool, with the caller's context variables."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(_executor(), call)
