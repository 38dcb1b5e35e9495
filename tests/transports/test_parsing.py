"""The hot operations' successes parsed without botocore's parser, against botocore's parser: the same dict (values,
types and key order) for every shape of answer, and every other answer left to botocore. Then the pipeline end to
end: ``after-call`` handlers see what they see on the botocore client, ``RetryAttempts`` included."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import botocore.session
import pytest
from aiohttp import web
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser
from multidict import CIMultiDict, CIMultiDictProxy

from starlette_dynamo_session import DynamoStore
from starlette_dynamo_session._dynamodb.transports.parsing import HOT_OPERATIONS, AnswerParser
from tests.support.loopback import Serve, answer

SERVICE_MODEL = botocore.session.get_session().get_service_model("dynamodb")
PARSER = AnswerParser(SERVICE_MODEL)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


EVERY_TYPE = {
    "token": {"S": "PwiqzhIu4jaEMsHKI6BJvGQLr78A_fM6UkKfOLoS2_k"},
    "data": {"B": b64(b"\x00sealed\xff" * 40)},
    "empty": {"B": ""},
    "expiry": {"N": "1767225600.000000"},
    "flag": {"BOOL": True},
    "off": {"BOOL": False},
    "nothing": {"NULL": True},
    "names": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5", "-3e10"]},
    "blobs": {"BS": [b64(b"one"), b64(b"\xfe\xff")]},
    "map": {
        "M": {
            "inner": {"B": b64(b"deep")},
            "deeper": {"M": {"list": {"L": [{"B": b64(b"deepest")}, {"BS": [b64(b"x")]}, {"N": "7"}]}}},
            "empty": {"M": {}},
        }
    },
    "list": {"L": [{"S": "x"}, {"M": {"b": {"B": b64(b"in a list")}}}, {"L": []}, {"NULL": True}]},
}
CONSUMED = {
    "TableName": "sessions",
    "CapacityUnits": 1.5,
    "ReadCapacityUnits": 1.0,
    "Table": {"CapacityUnits": 0.5, "ReadCapacityUnits": 0.5},
    "GlobalSecondaryIndexes": {"by-user": {"CapacityUnits": 1.0}},
    "LocalSecondaryIndexes": {},
}
METRICS = {"ItemCollectionKey": {"token": {"S": "k"}, "bin": {"B": b64(b"key")}}, "SizeEstimateRangeGB": [0.0, 1.0]}
BODIES: dict[str, Any] = {
    "nothing": b"",
    "an empty object": {},
    "an item of every type": {"Item": EVERY_TYPE},
    "attributes of every type": {"Attributes": EVERY_TYPE},
    "consumed capacity first": {"ConsumedCapacity": CONSUMED, "Item": EVERY_TYPE, "Attributes": EVERY_TYPE},
    "item collection metrics": {"Attributes": {"v": {"N": "1"}}, "ItemCollectionMetrics": METRICS},
    "null members": {"Item": None, "Attributes": None, "ConsumedCapacity": {"TableName": None, "Table": None}},
    "null values": {"Item": {"a": None, "b": {"S": None, "N": "1"}}},
    "members the model does not name": {"Unknown": 1, "Item": {"a": {"X": "new type", "S": "s"}}},
    "numbers as JSON numbers": {"Item": {"n": {"N": 12}, "b": {"BOOL": 1}}},
}
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "x-amz-crc32": "1234",
    "X-Amzn-RequestId": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGHIJKLMNOP",
    "Date": "Fri, 04 Dec 2026 23:59:59 GMT",
}


def encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def botocores(operation: str, headers: Any, body: bytes, status: int = 200) -> Any:
    response = {"status_code": status, "headers": headers, "body": body}
    shape: Any = SERVICE_MODEL.operation_model(operation).output_shape
    return create_parser("json").parse(response, shape)


def aiohttp_headers(headers: dict[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(headers))


@pytest.mark.parametrize("operation", HOT_OPERATIONS)
@pytest.mark.parametrize("body", list(BODIES))
def test_a_success_of_a_hot_operation_parses_to_botocores_dict(operation: str, body: str) -> None:
    headers, content = aiohttp_headers(HEADERS), encoded(BODIES[body])
    parsed = PARSER.parse(operation, 200, headers, content)
    assert parsed == botocores(operation, headers, content)


@pytest.mark.parametrize("body", list(BODIES))
def test_the_parse_has_botocores_types_and_key_order_at_every_depth(body: str) -> None:
    headers, content = aiohttp_headers(HEADERS), encoded(BODIES[body])
    assert repr(PARSER.parse("GetItem", 200, headers, content)) == repr(botocores("GetItem", headers, content))


@pytest.mark.parametrize(
    "headers",
    [HEADERS, {name: value for name, value in HEADERS.items() if name != "X-Amzn-RequestId"}, {}],
    ids=["request id", "no request id", "no headers"],
)
def test_the_response_metadata_is_botocores(headers: dict[str, str]) -> None:
    content = encoded({"Item": EVERY_TYPE})
    parsed = PARSER.parse("GetItem", 200, aiohttp_headers(headers), content)
    assert parsed is not None
    assert parsed["ResponseMetadata"] == botocores("GetItem", aiohttp_headers(headers), content)["ResponseMetadata"]


def test_botocores_own_header_mapping_gives_the_same_metadata() -> None:
    headers = HeadersDict(HEADERS)
    content = encoded({"Item": EVERY_TYPE})
    assert PARSER.parse("PutItem", 200, headers, content) == botocores("PutItem", headers, content)


NOT_OURS = {
    "not JSON": b"<html>portal</html>",
    "not UTF-8": b'{"Item": {"a": {"S": "\xff"}}}',
    "a byte order mark": b'\xef\xbb\xbf{"Item": {}}',
    "JSON null": b"null",
    "a JSON list": b"[]",
    "a JSON string": b'"text"',
    "an item that is a list": encoded({"Item": [1, 2]}),
    "a value that is a string": encoded({"Item": {"a": "S"}}),
    "a set that is a string": encoded({"Item": {"a": {"SS": "abc"}}}),
    "a map that is a list": encoded({"Item": {"a": {"M": [1]}}}),
    "bad base64": encoded({"Item": {"a": {"B": "not base64!"}}}),
    "a blob that is a number": encoded({"Item": {"a": {"B": 5}}}),
    # botocore 1.31 refuses a null in a binary set where later releases keep it: its own parser decides.
    "a null in a binary set": encoded({"Item": {"a": {"BS": [None, "eA=="]}}}),
    "a null in a list": encoded({"Item": {"l": {"L": [None, {"S": "x"}]}}}),
}


@pytest.mark.parametrize("body", list(NOT_OURS))
def test_an_answer_of_another_shape_is_left_to_botocores_parser(body: str) -> None:
    assert PARSER.parse("GetItem", 200, aiohttp_headers(HEADERS), NOT_OURS[body]) is None


@pytest.mark.parametrize("status", [201, 299, 300, 400, 500])
def test_an_answer_with_another_status_than_200_is_left_to_botocores_parser(status: int) -> None:
    assert PARSER.parse("GetItem", status, aiohttp_headers(HEADERS), b"{}") is None


@pytest.mark.parametrize("operation", ["TransactWriteItems", "BatchGetItem", "DescribeTable", "Query"])
def test_the_other_operations_are_left_to_botocores_parser(operation: str) -> None:
    assert PARSER.parse(operation, 200, aiohttp_headers(HEADERS), b"{}") is None


def test_an_operation_whose_model_has_timestamps_is_not_taken_on() -> None:
    parser = AnswerParser(SERVICE_MODEL, ["DescribeTable", "GetItem"])
    assert parser.parse("DescribeTable", 200, aiohttp_headers(HEADERS), b"{}") is None
    assert parser.parse("GetItem", 200, aiohttp_headers(HEADERS), b"{}") is not None


# The pipeline, end to end


def after_calls(session: boto3.Session) -> list[dict[str, Any]]:
    """The ``parsed`` of every ``after-call`` of ``session``'s DynamoDB clients, without the one header that differs
    from one answer to the next (the date)."""
    seen: list[dict[str, Any]] = []

    def record(parsed: dict[str, Any], **kwargs: Any) -> None:
        metadata = parsed["ResponseMetadata"]
        headers = {name: value for name, value in metadata["HTTPHeaders"].items() if name != "date"}
        seen.append({**parsed, "ResponseMetadata": {**metadata, "HTTPHeaders": headers}})

    session.events.register("after-call.dynamodb", record)
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize("retries", [0, 1])
async def test_after_call_handlers_see_the_parse_and_retry_count_of_the_botocore_client(
    serve: Serve, retries: int
) -> None:
    requests = 0

    async def throttle_first_attempts(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        if retries and requests % 2:
            return answer({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow"}, 400)
        return answer({"Item": EVERY_TYPE, "ConsumedCapacity": CONSUMED})

    serve(throttle_first_attempts)
    session = boto3.Session()
    seen = after_calls(session)
    store = DynamoStore(session, transport="aiohttp", seal_data=False)
    await store.read("token-1")
    store.client.get_item(TableName=store.table_name, Key={"token": {"S": "k"}}, ConsistentRead=True)
    ours, botocores = seen
    assert ours == botocores
    assert ours["ResponseMetadata"]["RetryAttempts"] == retries
    await store.aclose()
