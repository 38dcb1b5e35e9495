"""The steps of one DynamoDB call as botocore's client takes them, over any HTTP client.

A transport that does not call the botocore client (aiohttp) is this pipeline over a plain async function from a
signed request to an answer. Per call: botocore's serializer writes the request for the client's operation model
(``_serializing`` the store's requests, to the same bytes), and ``before-call`` handlers may answer it. Per
attempt: the request is signed (SigV4, with the session's credentials, as botocore's signer signs it: ``_sigv4``),
``before-send`` handlers may answer it (moto's ``mock_aws`` does), else it is sent; botocore's parser reads the
answer (``_parsing`` the hot operations' successes, to the same result), and the client's own retry handler (its
standard mode: checks, backoff, retry quota) decides through ``needs-retry`` whether and when to try again. Then
``after-call`` handlers see the result, its ``RetryAttempts`` counted as botocore's endpoint counts them. Every
event is emitted on the client's event system (a copy of the session's, made with the client) with botocore's
arguments, so the session's handlers see what they see on the botocore client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio
import anyio.lowlevel
import anyio.to_thread
import botocore
from botocore.awsrequest import AWSPreparedRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, NoCredentialsError
from botocore.hooks import first_non_none_response
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from starlette_dynamo_session._dynamodb.answers import settled
from starlette_dynamo_session._dynamodb.transports.parsing import AnswerParser
from starlette_dynamo_session._dynamodb.transports.serializing import RequestSerializer
from starlette_dynamo_session._dynamodb.transports.sigv4 import SigV4Signer

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["Answer", "HTTPResponse", "Pipeline", "Sender"]


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    """One HTTP answer, in the shape botocore's parser and retry checks read."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


# An answer: ours, or a ``botocore.awsrequest.AWSResponse`` that a ``before-send`` handler gave.
Answer = Any


class Sender(Protocol):
    """An HTTP client, as the pipeline uses it: one signed request in, its answer out."""

    transport: str  # the name of the transport (``"aiohttp"``), for messages
    user_agent: str  # the HTTP client and its version (``"aiohttp/3.10.0"``), for the User-Agent

    async def __call__(self, request: AWSPreparedRequest) -> HTTPResponse:
        """Send ``request`` and return its answer; raise a ``BotoCoreError`` when there is none."""

    async def aclose(self) -> None:
        """Close what is held open for the running event loop; the sender stays usable."""

    def check_loop(self) -> None:
        """Raise ``RuntimeError``, naming the transport, when the running event loop cannot carry this sender."""


class Pipeline:
    """Serializes, signs, sends (through ``send``), retries and parses the store's requests as the botocore
    ``client`` would, signing with ``credentials``.

    It takes the endpoint and region the client resolved, its operation models, its Config (the retry attempts) and
    its events. Retries follow botocore's standard mode, so a Config with another retry mode is refused with
    ``ValueError``.
    """

    def __init__(self, client: DynamoDBClient, credentials: Credentials | None, send: Sender) -> None:
        meta = client.meta
        config: Any = meta.config
        retries = dict(config.retries or {})
        if retries.get("mode", "standard") != "standard":
            raise ValueError(
                f"transport={send.transport!r} follows botocore's standard retry mode, not {retries['mode']!r}"
            )
        self._send = send
        self._retries = int(retries.get("total_max_attempts", 0))  # as botocore counts them: attempts, not retries
        self._client_config = config
        self._service_model = meta.service_model
        self._url = meta.endpoint_url
        root: dict[str, Any] = {"url_path": "/", "query_string": "", "headers": {}}
        prepare_request_dict(root, endpoint_url=self._url)
        self._root_url: str = root["url"]  # the URL of every request the fast serializer writes
        self._region = meta.region_name
        self._credentials = credentials
        self._signer = SigV4Signer(self._service_model.signing_name, self._region)
        self._exceptions = client.exceptions
        self._request_signer = getattr(client, "_request_signer", None)
        self._serializer = create_serializer(self._service_model.protocol, include_validation=False)
        self._parser = create_parser(self._service_model.protocol)
        self._answers = AnswerParser(self._service_model)
        self._requests = RequestSerializer(self._service_model)
        self._events: Any = meta.events  # a HierarchicalEmitter: emit_until_response is not in the stubs
        self._service_id = self._service_model.service_id.hyphenize()
        extra = f" {config.user_agent_extra}" if config.user_agent_extra else ""
        self._user_agent = f"Botocore/{botocore.__version__} {send.user_agent}{extra}"

    async def call(self, operation: str, request: Mapping[str, Any]) -> Mapping[str, Any]:
        """Make one API call and return botocore's parsed answer.

        Raises ``ClientError`` (or the client's modeled subclass) for an error answer, a ``BotoCoreError`` when
        DynamoDB could not be reached, its answer was damaged or is not DynamoDB's (``_answers``), or the
        credentials are missing, and ``RuntimeError`` on an event loop the HTTP client cannot run on.
        """
        self._send.check_loop()
        # A call cancelled before it starts sends nothing; one that a handler answers without I/O (moto's mock_aws)
        # still lets other tasks run once (a checkpoint), as every call on the botocore transport does. A call that
        # goes to the network yields while it waits, and spares the event loop an extra pass.
        await anyio.lowlevel.checkpoint_if_cancelled()
        model = self._service_model.operation_model(operation)
        context: dict[str, Any] = {"client_region": self._region, "client_config": self._client_config}
        request_dict = self._serialize(model, request, context)
        _, answered = self._events.emit_until_response(
            f"before-call.{self._service_id}.{operation}",
            model=model,
            params=request_dict,
            request_signer=self._request_signer,
            context=context,
        )
        try:
            if answered is not None:
                await anyio.lowlevel.checkpoint()
            response, parsed = answered if answered is not None else await self._attempts(model, request_dict)
        except Exception as exc:
            self._events.emit(f"after-call-error.{self._service_id}.{operation}", exception=exc, context=context)
            raise
        self._events.emit(
            f"after-call.{self._service_id}.{operation}",
            http_response=response,
            parsed=parsed,
            model=model,
            context=context,
        )
        if response.status_code >= 300:
            error: Any = self._exceptions.from_code(parsed.get("Error", {}).get("Code"))
            raise error(parsed, operation)
        return parsed

    async def aclose(self) -> None:
        """Close what the HTTP client holds open for the running event loop."""
        await self._send.aclose()

    def _serialize(self, model: OperationModel, request: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        params = dict(request)
        for name in model.idempotent_members:  # as botocore does: one token for every attempt of this call
            params.setdefault(name, str(uuid.uuid4()))
        request_dict = self._requests.serialize(model, params)
        if request_dict is None:
            request_dict = self._serializer.serialize_to_request(params, model)
            prepare_request_dict(request_dict, endpoint_url=self._url, context=context, user_agent=self._user_agent)
        else:  # what prepare_request_dict adds to a request for "/", with no query and no host prefix
            request_dict["headers"]["User-Agent"] = self._user_agent
            request_dict["url"] = self._root_url
            request_dict["context"] = context
        return request_dict

    async def _attempts(self, model: OperationModel, request_dict: dict[str, Any]) -> tuple[Answer, dict[str, Any]]:
        """Attempt the call until the retry handler lets it be: the last answer and its parse, or raise the
        botocore exception of the last attempt that got none."""
        attempt = 0
        while True:
            attempt += 1
            outcome = await self._attempt(model, request_dict)
            failed = isinstance(outcome, BotoCoreError)
            parsed = {} if failed else self._parse(outcome, model)
            event = f"needs-retry.{self._service_id}.{model.name}"
            # A success that botocore's retry handler would let be, and no other handler sees, is not emitted
            # (``settled``); a limit in the context (``retries``), which that handler would update, is left to it.
            handlers = None if "retries" in request_dict["context"] else _handlers(self._events, event)
            if not isinstance(outcome, BotoCoreError) and settled(handlers, outcome, parsed, attempt, self._retries):
                break
            delay = first_non_none_response(
                self._events.emit(
                    event,
                    response=None if failed else (outcome, parsed),
                    endpoint=None,
                    operation=model,
                    attempts=attempt,
                    caught_exception=outcome if failed else None,
                    request_dict=request_dict,
                )
            )
            if delay is None:
                break
            await anyio.sleep(delay)
        if isinstance(outcome, BotoCoreError):
            raise outcome
        if "ResponseMetadata" in parsed:  # as botocore's endpoint counts them: retries, not attempts
            parsed["ResponseMetadata"]["RetryAttempts"] = attempt - 1
        return outcome, parsed

    async def _attempt(self, model: OperationModel, request_dict: dict[str, Any]) -> Answer | BotoCoreError:
        """Sign and send one attempt: the answer (a ``before-send`` handler's, or the network's), or the botocore
        exception for why there is none. With no ``before-send`` handler to show it to, the request is signed and
        sent as plain headers, without botocore's request objects (which cost more than the signature)."""
        try:
            credentials = await self._frozen_credentials()
            event = f"before-send.{self._service_id}.{model.name}"
            if not _has_handlers(self._events, event):
                headers = self._signer.signed_headers(request_dict, credentials)
                if headers is not None:
                    method, url, body = request_dict["method"], request_dict["url"], request_dict["body"]
                    plain = AWSPreparedRequest(method, url, cast(Any, headers), body, stream_output=False)
                    return await self._send(plain)
            signed = create_request_object(request_dict)
            self._signer.add_auth(signed, credentials)
            prepared = signed.prepare()
            answer = first_non_none_response(self._events.emit(event, request=prepared))
            if answer is None:
                return await self._send(prepared)
            await anyio.lowlevel.checkpoint()
            return answer
        except BotoCoreError as exc:
            return exc

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        """The credentials to sign with; refreshable ones that are due are refreshed in a worker thread, since
        botocore's refresh blocks (STS, SSO, instance metadata)."""
        credentials = self._credentials
        if credentials is None:
            raise NoCredentialsError()
        if isinstance(credentials, RefreshableCredentials) and credentials.refresh_needed():
            return await anyio.to_thread.run_sync(credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    def _parse(self, response: Answer, model: OperationModel) -> dict[str, Any]:
        """botocore's parse of an answer (the hot operations' successes parsed by ``_parsing``, to the same result),
        with an error's modeled fields (``Item``, ``CancellationReasons``) added as botocore's endpoint adds them."""
        fast = self._answers.parse(model.name, response.status_code, response.headers, response.content)
        if fast is not None:
            return fast
        answer = {"status_code": response.status_code, "headers": response.headers, "body": response.content}
        parsed: dict[str, Any] = self._parser.parse(answer, model.output_shape)  # type: ignore[arg-type] # None: no output
        code = parsed.get("Error", {}).get("Code") if response.status_code >= 300 else None
        error_shape = None if code is None else self._service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(self._parser.parse(answer, error_shape))
        return parsed


def _has_handlers(events: Any, event_name: str) -> bool:
    """Whether a client's event system holds a handler for ``event_name``; ``True`` when it cannot tell, so the event
    is then emitted."""
    found = _handlers(events, event_name)
    return found is None or bool(found)


def _handlers(events: Any, event_name: str) -> Sequence[Callable[..., Any]] | None:
    """The handlers a client's event system (botocore's ``EventAliaser`` over a ``HierarchicalEmitter``) calls for
    ``event_name``, in order: the emitter's own lookup, cached where it caches it (registering a handler clears that
    cache). ``None`` when it cannot tell."""
    emitter = getattr(events, "_emitter", events)
    alias = getattr(events, "_alias_event_name", None)
    name = event_name if alias is None else alias(event_name)
    cache, handlers = getattr(emitter, "_lookup_cache", None), getattr(emitter, "_handlers", None)
    if not isinstance(cache, dict) or handlers is None:
        return None
    found = cache.get(name)
    if found is None:
        found = cache[name] = handlers.prefix_search(name)
    return found if isinstance(found, Sequence) else None
