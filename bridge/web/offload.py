"""The request handlers' worker threads: blocking work (the store, RSA) runs here, off the event loop.

A plain ``ThreadPoolExecutor`` behind ``loop.run_in_executor`` rather than Starlette's
``run_in_threadpool``: anyio's hop (capacity limiter, cancel scope, context copy) costs
about 100 µs of CPU per call against about 40 µs here, and the SSO step makes one hop
per login (issue #7's profile). Nothing the handlers run reads context variables.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from starlette.requests import Request

P = ParamSpec("P")
T = TypeVar("T")


class Offload:
    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bridge-worker")

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def in_thread(request: Request, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn`` on the app's worker threads (``create_app`` sets ``app.state.offload``)."""
    offload: Offload = request.app.state.offload
    return await offload(fn, *args, **kwargs)
