"""The aiohttp transport's HTTP: sends a signed request over one ``aiohttp.ClientSession`` per event loop.

Everything else (serializing, signing, retrying, parsing, the session's handlers) is the pipeline's (``_pipeline``):
this module is only the ``Send`` function it calls, and the mapping of aiohttp's failures to the botocore exceptions
botocore's retry checks and the store's error mapping know.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import yarl
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.utils import get_environ_proxies

from starlette_dynamo_session._dynamodb.transports.in_flight import InFlightLimit, InFlightSlots
from starlette_dynamo_session._dynamodb.transports.pipeline import HTTPResponse

__all__ = ["AiohttpSend"]

_TARGETS_KEPT = 16  # URLs a transport keeps parsed, with their proxies; all are dropped past that


@dataclass
class _LoopState:
    """What is kept for one event loop: its aiohttp session, the slots for requests in flight (their limit adapts to
    what the loop carries), and the async generator whose finalisation at the loop's shutdown closes the session."""

    session: aiohttp.ClientSession
    slots: InFlightSlots
    closer: AsyncGenerator[None, None] | None = field(default=None, repr=False)


class AiohttpSend:
    """Sends requests over one ``aiohttp.ClientSession`` per event loop (asyncio only), as many at once as the loop
    carries (``in_flight.InFlightLimit``: at most ``pool_size``), with the connect and read timeouts given (seconds).

    As botocore's client does, it goes through the proxy ``proxies`` names for the URL's scheme (botocore's
    ``Config(proxies=...)``), else through the environment's (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``, read
    once per URL with botocore's own function, as botocore reads them once per client: never a thread or a
    ``.netrc`` lookup per request), and checks certificates against ``verify``: ``True`` for the default
    authorities, a path to a CA bundle (botocore's ``verify=``, ``AWS_CA_BUNDLE``, ``ca_bundle`` in the config
    file), or ``False`` for no check.
    """

    transport = "aiohttp"
    user_agent = f"aiohttp/{aiohttp.__version__}"

    def __init__(
        self,
        pool_size: int,
        connect_timeout: float,
        read_timeout: float,
        *,
        proxies: Mapping[str, str] | None = None,
        verify: bool | str = True,
    ) -> None:
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._proxies = dict(proxies or {})
        self._targets: dict[str, tuple[yarl.URL, str | None]] = {}  # by URL: parsed, and its proxy, once
        self._verify = verify
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    async def __call__(self, request: AWSPreparedRequest) -> HTTPResponse:
        """Send ``request`` and return its answer, once the loop has run what was ready when it came. Raises the
        botocore exception for an aiohttp failure, and ``RuntimeError`` outside asyncio."""
        state = await self._state()
        headers: dict[str, str] = {
            name: value.decode() if isinstance(value, bytes) else value for name, value in request.headers.items()
        }
        headers["Accept-Encoding"] = "identity"  # unsigned, as botocore leaves it: the body DynamoDB checksummed
        url, proxy = self._target(request.url)
        taken = await state.slots.acquire()
        try:
            async with state.session.request(
                request.method,
                url,
                data=request.body,
                headers=headers,
                proxy=proxy,
                allow_redirects=False,  # as botocore's client: a redirect is DynamoDB's answer
            ) as answer:
                response = HTTPResponse(answer.status, answer.headers, await answer.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _botocore_error(exc, request.url) from exc
        finally:
            state.slots.release(taken)
        # What follows an answer (parsing it, the rest of the request) waits once behind the callbacks already ready
        # to run: a request that arrived with a burst of answers is served before their work, not after all of it.
        await asyncio.sleep(0)
        return response

    def check_loop(self) -> None:
        """Raise ``RuntimeError``, naming the transport, outside asyncio."""
        _running_loop()

    async def aclose(self) -> None:
        """Close this event loop's aiohttp session, if one was made; the next request makes a new one."""
        state = self._loops.pop(_running_loop(), None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()

    def _target(self, url: str) -> tuple[yarl.URL, str | None]:
        """``url`` parsed, and the proxy to go through for it: the one ``proxies`` (else the environment) names for
        its scheme or ``scheme://host``, if any. Worked out once per URL (the store sends to one or two)."""
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _TARGETS_KEPT:
                self._targets.clear()
            parts = urlsplit(url)
            proxies = self._proxies or get_environ_proxies(url)
            proxy = proxies.get(f"{parts.scheme}://{parts.hostname}") or proxies.get(parts.scheme)
            via = None if proxy is None else proxy if "://" in proxy else f"http://{proxy}"
            target = self._targets[url] = (yarl.URL(url, encoded=True), via)
        return target

    def _ssl(self) -> ssl.SSLContext | bool:
        """What aiohttp checks certificates with: the CA bundle ``verify`` names, or the default (``True``) or no
        check (``False``)."""
        if not isinstance(self._verify, str):
            return self._verify
        if os.path.isdir(self._verify):
            return ssl.create_default_context(capath=self._verify)
        return ssl.create_default_context(cafile=self._verify)

    async def _state(self) -> _LoopState:
        """This loop's session and slots, made on first use."""
        loop = _running_loop()
        state = self._loops.get(loop)
        if state is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ssl=self._ssl())
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # as botocore's client: DynamoDB sets no cookies to keep
            )
            slots = InFlightSlots(InFlightLimit(self._pool_size), loop)
            state = self._loops[loop] = _LoopState(session, slots)
            state.closer = self._close_at_shutdown(loop, state)
            await state.closer.__anext__()
        return state

    async def _close_at_shutdown(
        self, loop: asyncio.AbstractEventLoop, state: _LoopState
    ) -> AsyncGenerator[None, None]:
        """Suspended from the session's first use on: the loop finalises it at ``shutdown_asyncgens()`` (which
        ``asyncio.run`` and ``anyio.run`` call as the loop ends) or ``aclose`` does, and the session closes."""
        try:
            yield
        finally:
            if self._loops.get(loop) is state:
                del self._loops[loop]
            await state.session.close()


def _running_loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "DynamoStore(transport='aiohttp') runs on asyncio only, and this is another event loop (trio?): "
            "use transport='botocore' there"
        ) from None


def _botocore_error(exc: aiohttp.ClientError | TimeoutError, url: str) -> BotoCoreError:
    """The botocore exception for an aiohttp failure, so botocore's retry checks and the store's mapping see what
    they would see from the botocore client."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, TimeoutError):
        return ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return EndpointConnectionError(endpoint_url=url, error=exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | aiohttp.ClientPayloadError):
        return ConnectionClosedError(endpoint_url=url, error=exc)
    return HTTPClientError(error=exc)
