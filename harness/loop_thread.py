"""What runs in the background of synchronous code, from ``start()`` until ``stop()`` (``Background``), and the
asyncio event loop in a daemon thread of its own (``LoopThread``) that the proxies of ``harness.proxy`` and the tests'
loopback servers run on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

START_TIMEOUT = 10.0  # seconds for the loop to run once its thread has started
CALL_TIMEOUT = 10.0  # seconds for a coroutine given to ``run`` to finish, by default
T = TypeVar("T")


class Background:
    """Runs from ``start()`` until ``stop()``, or for the block of a ``with`` statement."""

    def start(self) -> object:
        """Start running."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop running."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class LoopThread(Background):
    """An event loop that runs in a thread named ``name`` from ``start()`` until ``stop()`` (or as a context
    manager). ``run`` runs a coroutine on it from another thread and returns its result. On ``stop``, what still runs
    on the loop is cancelled, as ``asyncio.run`` does on the way out."""

    def __init__(self, name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        """Start the thread and return once its loop runs. Raises ``RuntimeError`` if it does not in time."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the event loop of thread {self._thread.name!r} did not start")

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``coroutine`` on the loop and return its result (or raise its exception), waiting ``timeout``
        seconds at most. Raises ``RuntimeError`` if the loop is not running."""
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise RuntimeError(f"the event loop of thread {self._thread.name!r} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    def stop(self) -> None:
        """Stop the loop, cancelling what still runs on it, and end the thread. A second call does nothing."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            self._loop = None
            loop.call_soon_threadsafe(stopping.set)
            self._thread.join(START_TIMEOUT)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        await self._stopping.wait()
