"""The aiohttp transport: the store's coroutines reach DynamoDB on the event loop, with no worker thread.

Only the HTTP is aiohttp's. The request and the answer are botocore's own: its JSON serializer and parser for the
client's operation models (so items have exactly the shapes the client gives, bytes for ``B`` values, and an error
answer becomes the same ``ClientError``), its ``SigV4Auth`` signer, and the retry handler of the store's own client
(standard mode: its checks, backoff and retry quota, DynamoDB's ``x-amz-crc32`` check included), asked through the
``needs-retry`` and ``after-call`` events botocore's own endpoint emits.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import anyio.to_thread
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["AiohttpTransport"]


@dataclass
class HTTPResponse:
    """One HTTP answer, in the shape botocore's retry checks read (``status_code``, ``headers``, ``content``)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


@dataclass
class _LoopState:
    """What the transport keeps for one event loop: its aiohttp session, the slots for requests in flight, and the
    async generator whose finalisation at the loop's shutdown closes the session."""

    session: aiohttp.ClientSession
    slots: asyncio.Semaphore
    closer: AsyncGenerator[None, None] | None = field(default=None, repr=False)


class AiohttpTransport:
    """Sends the store's requests over one ``aiohttp.ClientSession`` per event loop (asyncio only).

    It takes everything from the store's botocore ``client`` and the session's ``credentials``: the endpoint and
    region the client resolved, its operation models, and its Config (connect and read timeouts, the pool size,
    which also bounds the requests in flight, and the retry attempts). Retries follow botocore's standard mode, so
    a Config with another retry mode is refused with ``ValueError``.
    """

    def __init__(self, client: DynamoDBClient, credentials: Credentials | None) -> None:
        meta = client.meta
        config: Any = meta.config
        retries = dict(config.retries or {})
        if retries.get("mode", "standard") != "standard":
            raise ValueError(f"transport='aiohttp' follows botocore's standard retry mode, not {retries['mode']!r}")
        self._service_model = meta.service_model
        self._url = meta.endpoint_url.rstrip("/")
        self._region = meta.region_name
        self._credentials = credentials
        self._exceptions = client.exceptions
        self._serializer = create_serializer(self._service_model.protocol, include_validation=False)
        self._parser = create_parser(self._service_model.protocol)
        self._pool_size = int(config.max_pool_connections)
        self._timeout = aiohttp.ClientTimeout(sock_connect=config.connect_timeout, sock_read=config.read_timeout)
        extra = f" {config.user_agent_extra}" if config.user_agent_extra else ""
        # Sent unsigned, as botocore leaves them. "identity": the body arrives as DynamoDB computed its x-amz-crc32.
        self._unsigned_headers = {
            "User-Agent": f"Botocore/{botocore.__version__} aiohttp/{aiohttp.__version__}{extra}",
            "Accept-Encoding": "identity",
        }
        # Retries are decided by the retry handler botocore registered on the store's own client (its configured
        # standard mode: attempts, retryable errors, backoff, retry quota), asked through the same events botocore's
        # endpoint emits, so both transports retry alike whatever botocore release is installed.
        self._events = meta.events
        self._service_id = self._service_model.service_id.hyphenize()
        self._loops: dict[asyncio.AbstractEventLoop, _LoopState] = {}

    async def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send one request, retrying as botocore's standard mode does, and return botocore's parsed answer.

        Raises ``ClientError`` (or the client's modeled subclass) for an error answer, a ``BotoCoreError`` when
        DynamoDB could not be reached or its answer was damaged or not DynamoDB's (the checks the store registered
        on its client's events, ``_answers``), and ``RuntimeError`` outside asyncio.
        """
        state = await self._state()
        model = self._service_model.operation_model(operation)
        params = dict(request)
        for name in model.idempotent_members:  # as botocore does: one token for every attempt of this call
            params.setdefault(name, str(uuid.uuid4()))
        serialized = self._serializer.serialize_to_request(params, model)
        request_context: dict[str, Any] = {}
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(state, serialized)
            response, failure = (outcome, None) if isinstance(outcome, HTTPResponse) else (None, outcome)
            parsed = None if response is None else self._parse(response, model)
            delay = first_non_none_response(
                self._events.emit(
                    f"needs-retry.{self._service_id}.{operation}",
                    response=None if response is None else (response, parsed),
                    endpoint=None,
                    operation=model,
                    attempts=attempt,
                    caught_exception=failure,
                    request_dict={"context": request_context},
                )
            )
            if delay is None:
                break
            await anyio.sleep(delay)
        if isinstance(outcome, BotoCoreError):
            raise outcome from outcome.__cause__
        answer = self._parse(outcome, model) if parsed is None else parsed
        if outcome.status_code >= 300:
            error: Any = self._exceptions.from_code(answer.get("Error", {}).get("Code"))
            raise error(answer, operation)
        # What botocore's client emits after a call, which gives back the retry quota a success earns.
        self._events.emit(
            f"after-call.{self._service_id}.{operation}",
            http_response=outcome,
            parsed=answer,
            model=model,
            context=request_context,
        )
        return answer

    async def aclose(self) -> None:
        """Close this event loop's aiohttp session, if the transport made one; the next call makes a new one."""
        state = self._loops.pop(_running_loop(), None)
        if state is not None and state.closer is not None:
            await state.closer.aclose()

    async def _state(self) -> _LoopState:
        """This loop's session and slots, made on first use."""
        loop = _running_loop()
        state = self._loops.get(loop)
        if state is None:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False)
            state = self._loops[loop] = _LoopState(session, asyncio.Semaphore(self._pool_size))
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

    async def _attempt(self, state: _LoopState, serialized: Mapping[str, Any]) -> HTTPResponse | BotoCoreError:
        """Sign and send one attempt: the answer, or the botocore exception for why there is none."""
        url = self._url + serialized["url_path"]
        signed = AWSRequest(
            method=serialized["method"], url=url, headers=serialized["headers"], data=serialized["body"]
        )
        try:
            SigV4Auth(await self._frozen_credentials(), self._service_model.signing_name, self._region).add_auth(signed)
            headers = {**signed.headers, **self._unsigned_headers}
            async with (
                state.slots,
                state.session.post(url, data=serialized["body"], headers=headers) as answer,
            ):
                return HTTPResponse(answer.status, answer.headers, await answer.read())
        except BotoCoreError as exc:
            return exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = _botocore_error(exc, self._url)
            error.__cause__ = exc
            return error

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        """The credentials to sign with; refreshable ones that are due are refreshed in a worker thread, since
        botocore's refresh blocks (STS, SSO, instance metadata)."""
        credentials = self._credentials
        if credentials is None:
            raise NoCredentialsError()
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            return await anyio.to_thread.run_sync(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def _parse(self, response: HTTPResponse, model: OperationModel) -> dict[str, Any]:
        """botocore's parse of an answer, with an error's modeled fields (``Item``, ``CancellationReasons``) added
        as botocore's endpoint adds them."""
        answer = {"status_code": response.status_code, "headers": response.headers, "body": response.content}
        parsed: dict[str, Any] = self._parser.parse(answer, model.output_shape)  # type: ignore[arg-type] # None: no output
        code = parsed.get("Error", {}).get("Code") if response.status_code >= 300 else None
        error_shape = None if code is None else self._service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(self._parser.parse(answer, error_shape))
        return parsed


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
