"""The synchronous facade: the async ``IntegrityService`` (or any coroutine) run from threads of a sync framework.

One event loop lives on a background thread (an anyio blocking portal); Flask and Django views hand it
coroutines and wait for the answer. The service itself, its store and its HTTP clients are opened on that loop
and only ever used there, so no rule of the protocol exists twice.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

T = TypeVar("T")


class BlockingRunner:
    """A background event loop that sync code submits coroutine functions to. Thread-safe; close it once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._manager: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None

    def _ensure(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self._manager = start_blocking_portal()
                self._portal = self._manager.__enter__()
            return self._portal

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``function(*args)`` on the background loop and return its result (or raise its exception)."""
        return self._ensure().call(function, *args)

    def close(self) -> None:
        with self._lock:
            manager, self._manager, self._portal = self._manager, None, None
        if manager is not None:
            manager.__exit__(None, None, None)


__all__ = ["BlockingRunner"]
