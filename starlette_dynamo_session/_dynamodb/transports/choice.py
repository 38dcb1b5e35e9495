"""How the store's coroutines reach DynamoDB: a transport sends one request and returns botocore's parsed answer."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from botocore import xform_name

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["AutoTransport", "BotocoreTransport", "Transport"]


class Transport(Protocol):
    """Sends DynamoDB requests for the store's coroutines."""

    async def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send one request (``operation`` is its API name, ``"GetItem"``...) and return the parsed response.

        Raises what botocore raises: ``ClientError`` for an error answer, ``BotoCoreError`` when DynamoDB could not
        be reached; the store maps both.
        """

    async def aclose(self) -> None:
        """Close what the transport holds open for the running event loop; it stays usable."""


class BotocoreTransport:
    """Sends every request through the store's botocore client, in worker threads of its own: as many as the client
    has pooled connections, so session I/O neither waits for a connection nor takes the threads the application's
    sync endpoints run in. Event handlers, moto and botocore instrumentation see every request."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self._threads = int(getattr(client.meta.config, "max_pool_connections", 10))
        # One limiter per event loop: a limiter cannot be shared between loops.
        self._limiter: RunVar[anyio.CapacityLimiter] = RunVar("starlette_dynamo_session.limiter")

    async def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """Call the client's method for ``operation`` in a worker thread and return its response."""
        try:
            limiter = self._limiter.get()
        except LookupError:
            limiter = anyio.CapacityLimiter(self._threads)
            self._limiter.set(limiter)
        method = getattr(self._client, xform_name(operation))
        response: Mapping[str, Any] = await anyio.to_thread.run_sync(
            functools.partial(method, **request), limiter=limiter
        )
        return response

    async def aclose(self) -> None:
        """Nothing to close: the client's connections are botocore's, and its threads are anyio's."""


class AutoTransport:
    """``transport="auto"``: the ``on_asyncio`` transport under asyncio, ``other`` under any other event loop (trio),
    decided per call."""

    def __init__(self, on_asyncio: Transport, other: Transport) -> None:
        self._on_asyncio = on_asyncio
        self._other = other

    async def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send one request through the transport of the running event loop."""
        return await self._current().call(operation, request)

    async def aclose(self) -> None:
        """Close what the running event loop's transport holds open."""
        await self._current().aclose()

    def _current(self) -> Transport:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._other
        return self._on_asyncio
