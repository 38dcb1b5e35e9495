"""The retry checks of a success on the aiohttp transport: a success that botocore's standard retry handler would let
be, and that no other handler sees, is settled without emitting ``needs-retry``; anything else is emitted as the
botocore client emits it."""

from __future__ import annotations

import json
from binascii import crc32
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config

from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session._dynamodb.answers import CRC32_HEADER, check_answers, settled
from starlette_dynamo_session._dynamodb.transports.pipeline import HTTPResponse, _handlers
from tests.support.loopback import Serve, answer

EVENT = "needs-retry.dynamodb.GetItem"
BODY = json.dumps({"Item": {"token": {"S": "key"}}}).encode()
GOOD = HTTPResponse(200, {CRC32_HEADER: str(crc32(BODY))}, BODY)
DAMAGED = HTTPResponse(200, {CRC32_HEADER: str(crc32(BODY) ^ 1)}, BODY)


def parsed() -> dict[str, Any]:
    return {"Item": {"token": {"S": "key"}}, "ResponseMetadata": {"HTTPStatusCode": 200}}


@pytest.fixture
def client() -> Any:
    client = boto3.Session().client("dynamodb", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    check_answers(client.meta.events)
    return client


def botocores_verdict(client: Any, response: HTTPResponse, attempt: int) -> tuple[Any, dict[str, Any]]:
    """What the client's needs-retry handlers say of ``response`` at ``attempt``: the delay, and the parse after."""
    result = parsed()
    model = client.meta.service_model.operation_model("GetItem")
    responses = client.meta.events.emit(
        EVENT,
        response=(response, result),
        endpoint=None,
        operation=model,
        attempts=attempt,
        caught_exception=None,
        request_dict={"context": {}},
    )
    return next((delay for _, delay in responses if delay is not None), None), result


def test_a_sound_success_before_the_last_attempt_is_settled_as_botocore_lets_it_be(client: Any) -> None:
    assert settled(_handlers(client.meta.events, EVENT), GOOD, parsed(), 1, 3)
    assert botocores_verdict(client, GOOD, 1) == (None, parsed())


def test_a_success_that_does_not_match_its_checksum_is_not_settled_and_botocore_retries_it(client: Any) -> None:
    assert not settled(_handlers(client.meta.events, EVENT), DAMAGED, parsed(), 1, 3)
    assert botocores_verdict(client, DAMAGED, 1)[0] is not None


def test_a_success_on_the_last_attempt_is_not_settled_and_botocore_notes_the_limit(client: Any) -> None:
    assert not settled(_handlers(client.meta.events, EVENT), GOOD, parsed(), 3, 3)
    assert botocores_verdict(client, GOOD, 3)[1]["ResponseMetadata"]["MaxAttemptsReached"] is True


def test_an_error_answer_is_not_settled() -> None:
    client = boto3.Session().client("dynamodb")
    check_answers(client.meta.events)
    error = HTTPResponse(400, {CRC32_HEADER: str(crc32(BODY))}, BODY)
    assert not settled(_handlers(client.meta.events, EVENT), error, parsed(), 1, 3)


def test_a_success_another_handler_would_see_is_not_settled(client: Any) -> None:
    client.meta.events.register(EVENT, lambda **kwargs: None)
    assert not settled(_handlers(client.meta.events, EVENT), GOOD, parsed(), 1, 3)


async def _empty(request: web.Request) -> web.Response:
    return answer({})


@pytest.mark.anyio
async def test_a_sound_success_on_the_aiohttp_transport_emits_no_needs_retry(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(_empty)
    store = DynamoStore(boto3.Session(), transport="aiohttp")
    events = store.client.meta.events
    emitted: list[str] = []

    def emit(event_name: str, **kwargs: Any) -> Any:
        emitted.append(event_name.partition(".")[0])
        return type(events).emit(events, event_name, **kwargs)

    monkeypatch.setattr(events, "emit", emit)
    assert await store.read("token") is None
    assert "after-call" in emitted and "needs-retry" not in emitted
    await store.aclose()


@pytest.mark.anyio
async def test_an_applications_needs_retry_handler_sees_every_attempt_on_the_aiohttp_transport(serve: Serve) -> None:
    serve(_empty)
    store = DynamoStore(boto3.Session(), transport="aiohttp")
    seen: list[int] = []

    def record(attempts: int, **kwargs: Any) -> None:
        seen.append(attempts)

    store.client.meta.events.register(EVENT, record)
    assert await store.read("token") is None
    assert seen == [1]
    await store.aclose()
