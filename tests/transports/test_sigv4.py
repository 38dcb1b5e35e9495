"""The pipeline's SigV4 signer against botocore's ``SigV4Auth``: the same request signed at the same instant gets the
same headers (``Authorization`` included) in the same order, for every request the store sends, on every kind of
endpoint, and what the signer does not cover is left to botocore."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from datetime import datetime
from typing import Any

import botocore.auth
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, create_request_object, prepare_request_dict
from botocore.credentials import ReadOnlyCredentials
from botocore.serialize import create_serializer

from starlette_dynamo_session._dynamodb.transports import sigv4 as _sigv4
from starlette_dynamo_session._dynamodb.transports.sigv4 import SigV4Signer

SERVICE_MODEL = botocore.session.get_session().get_service_model("dynamodb")
TABLE = "sessions"
KEY = {"token": {"S": "PwiqzhIu4jaEMsHKI6BJvGQLr78A_fM6UkKfOLoS2_k"}}
ITEM = {
    **KEY,
    "data": {"B": b"\x00sealed\xff" * 20},
    "expiry": {"N": "1767225600.000000"},
    "ttl": {"N": "1767225600"},
    "created": {"N": "1764547200.123456"},
    "version": {"N": "1"},
}
NAMES = {"#version": "version"}
PUT = {
    "TableName": TABLE,
    "Item": ITEM,
    "ConditionExpression": "#version = :previous",
    "ExpressionAttributeNames": NAMES,
    "ExpressionAttributeValues": {":previous": {"N": "1"}},
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
}
# Every request shape the store sends (``_dynamodb/requests.py``, ``_dynamodb/user_items.py``).
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "read": ("GetItem", {"TableName": TABLE, "Key": KEY, "ConsistentRead": True}),
    "first write": (
        "PutItem",
        {**PUT, "ConditionExpression": "attribute_not_exists(#version)", "ExpressionAttributeValues": {}},
    ),
    "write": ("PutItem", PUT),
    "save": (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": KEY,
            "UpdateExpression": "SET #data = :data, #version = if_not_exists(#version, :zero) + :one",
            "ExpressionAttributeNames": {"#data": "data", **NAMES},
            "ExpressionAttributeValues": {":data": ITEM["data"], ":zero": {"N": "0"}, ":one": {"N": "1"}},
        },
    ),
    "remove": ("DeleteItem", {"TableName": TABLE, "Key": KEY, "ReturnValues": "ALL_OLD"}),
    "regenerate": (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": PUT},
                {"Delete": {"TableName": TABLE, "Key": KEY, "ConditionExpression": "#version = :previous"}},
            ]
        },
    ),
    "list sessions": ("BatchGetItem", {"RequestItems": {TABLE: {"Keys": [KEY, KEY], "ConsistentRead": True}}}),
    "ping": ("DescribeTable", {"TableName": TABLE}),
}
ENDPOINTS = [
    "https://dynamodb.us-east-1.amazonaws.com",
    "http://127.0.0.1:8000",
    "https://localhost:8443/",
    "http://localhost:80",
    "https://DynamoDB.EU-West-1.AmazonAWS.com:443",
]
CREDENTIALS = [
    ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None),
    ReadOnlyCredentials("ASIAEXAMPLE", "another secret", "FwoGZXIvYXdzEJr//////////session-token"),
]
INSTANTS = [datetime(2026, 12, 4, 23, 59, 59), datetime(2026, 12, 5, 0, 0, 0), datetime(2027, 2, 28, 12, 30, 1)]

Signer = Callable[[AWSRequest, ReadOnlyCredentials], None]


def request_dict(operation: str, params: dict[str, Any], url: str = ENDPOINTS[0]) -> dict[str, Any]:
    """botocore's request dict for one call of the pipeline, before signing."""
    serialized: dict[str, Any] = create_serializer("json").serialize_to_request(
        params, SERVICE_MODEL.operation_model(operation)
    )
    prepare_request_dict(serialized, endpoint_url=url, context={}, user_agent="Botocore/1.0 aiohttp/3.0")
    return serialized


def request(operation: str, params: dict[str, Any], url: str = ENDPOINTS[0]) -> AWSRequest:
    """The request the pipeline makes for one call, before signing."""
    unsigned: AWSRequest = create_request_object(request_dict(operation, params, url))
    return unsigned


def ours(region: str = "us-east-1") -> Signer:
    return SigV4Signer("dynamodb", region).add_auth


def botocores(region: str = "us-east-1") -> Signer:
    return lambda request, credentials: SigV4Auth(credentials, "dynamodb", region).add_auth(request)


def signed(sign: Signer, unsigned: AWSRequest, credentials: ReadOnlyCredentials = CREDENTIALS[1]) -> AWSRequest:
    """A copy of ``unsigned``, signed."""
    copied = copy.deepcopy(unsigned)
    sign(copied, credentials)
    return copied


@pytest.fixture(autouse=True)
def instant(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Fixes the clock both signers read; calling it sets another instant."""

    reads_utcnow = not hasattr(botocore.auth, "get_current_datetime")  # botocore before 1.33 reads utcnow()

    def at(moment: datetime) -> None:
        monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: moment, raising=False)
        if reads_utcnow:

            class Frozen(datetime):
                @classmethod
                def utcnow(cls) -> datetime:  # type: ignore[override]
                    return moment

            monkeypatch.setattr(botocore.auth, "datetime", types.SimpleNamespace(datetime=Frozen))

    at(INSTANTS[0])
    return at


def every_signed_request(test: Callable[..., None]) -> Callable[..., None]:
    """Run ``test`` for every request shape the store sends, to every endpoint, with both kinds of credentials."""
    marked: Callable[..., None] = pytest.mark.parametrize("credentials", CREDENTIALS, ids=["long-term", "temporary"])(
        test
    )
    marked = pytest.mark.parametrize("url", ENDPOINTS)(marked)
    marked = pytest.mark.parametrize("shape", list(REQUESTS))(marked)
    return marked


@every_signed_request
def test_every_request_the_store_sends_gets_botocores_authorization(
    shape: str, url: str, credentials: ReadOnlyCredentials
) -> None:
    unsigned = request(*REQUESTS[shape], url=url)
    expected = signed(botocores(), unsigned, credentials).headers["Authorization"]
    assert signed(ours(), unsigned, credentials).headers["Authorization"] == expected


@every_signed_request
def test_the_plain_headers_of_every_request_are_botocores_signed_headers_in_botocores_order(
    shape: str, url: str, credentials: ReadOnlyCredentials
) -> None:
    unsigned = request_dict(*REQUESTS[shape], url=url)
    expected = signed(botocores(), create_request_object(copy.deepcopy(unsigned)), credentials)
    headers = SigV4Signer("dynamodb", "us-east-1").signed_headers(unsigned, credentials)
    assert headers is not None and list(headers.items()) == expected.headers.items()
    assert unsigned["context"] == expected.context


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://dynamodb.us-east-1.amazonaws.com/?b=2&a=1"},
        {"url": "https://proxy.example/dynamodb/"},
        {"body": '{"TableName": "sessions"}'},
        {"context": {"payload_signing_enabled": False}},
        {"headers": {"Date": "Fri, 04 Dec 2026 23:00:00 GMT"}},
        {"headers": {"X-Amz-Custom": b"bytes"}},
    ],
    ids=["a query string", "a path", "a text body", "unsigned payloads", "a Date header", "a bytes header value"],
)
def test_a_request_dict_of_another_kind_gets_no_plain_headers(change: dict[str, Any]) -> None:
    unsigned = request_dict(*REQUESTS["read"])
    for key, value in change.items():
        unsigned[key] = {**unsigned[key], **value} if isinstance(value, dict) else value
    assert SigV4Signer("dynamodb", "us-east-1").signed_headers(unsigned, CREDENTIALS[0]) is None


@pytest.mark.parametrize("shape", list(REQUESTS))
def test_the_signed_request_has_botocores_headers_in_botocores_order_and_timestamp(shape: str) -> None:
    unsigned = request(*REQUESTS[shape])
    expected, actual = signed(botocores(), unsigned), signed(ours(), unsigned)
    assert actual.headers.items() == expected.headers.items()
    assert actual.context == expected.context


@pytest.mark.parametrize("moment", INSTANTS)
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_each_day_and_region_signs_as_botocore_does(
    instant: Callable[[datetime], None], moment: datetime, region: str
) -> None:
    instant(moment)
    unsigned = request(*REQUESTS["read"])
    expected = signed(botocores(region), unsigned).headers["Authorization"]
    assert signed(ours(region), unsigned).headers["Authorization"] == expected


def test_the_signing_key_is_derived_once_per_secret_key_and_day() -> None:
    _sigv4._signing_key.cache_clear()
    signer = ours()
    for _ in range(3):
        signed(signer, request(*REQUESTS["read"]), CREDENTIALS[0])
    assert _sigv4._signing_key.cache_info().misses == 1


def test_a_new_day_and_new_secret_keys_each_sign_with_their_own_key(instant: Callable[[datetime], None]) -> None:
    signer = ours()
    unsigned = request(*REQUESTS["write"])
    for moment in INSTANTS:
        instant(moment)
        for credentials in CREDENTIALS + [ReadOnlyCredentials("AKIDEXAMPLE", "rotated secret", None)]:
            expected = signed(botocores(), unsigned, credentials).headers["Authorization"]
            assert signed(signer, unsigned, credentials).headers["Authorization"] == expected


def test_a_request_signed_again_for_a_retry_is_signed_as_botocore_signs_it_again(
    instant: Callable[[datetime], None],
) -> None:
    ours_request, botocores_request = request(*REQUESTS["save"]), request(*REQUESTS["save"])
    for moment in INSTANTS[:2]:
        instant(moment)
        ours()(ours_request, CREDENTIALS[1])
        botocores()(botocores_request, CREDENTIALS[1])
    assert ours_request.headers.items() == botocores_request.headers.items()


def test_headers_botocore_leaves_unsigned_are_sent_and_left_unsigned_as_botocore_does() -> None:
    unsigned = request(*REQUESTS["read"])
    for name in ("Expect", "X-Amzn-Trace-Id", "traceparent", "Connection"):
        unsigned.headers[name] = "value"
    unsigned.headers["X-Amz-Custom"] = "  spaced   out  "
    expected, actual = signed(botocores(), unsigned), signed(ours(), unsigned)
    assert actual.headers.items() == expected.headers.items()


def _with_header(name: str, value: Any) -> Callable[[AWSRequest], None]:
    def add(request: AWSRequest) -> None:
        request.headers[name] = value

    return add


def _with_context(name: str, value: Any) -> Callable[[AWSRequest], None]:
    def add(request: AWSRequest) -> None:
        request.context[name] = value

    return add


def _with_url(url: str) -> Callable[[AWSRequest], None]:
    def change(request: AWSRequest) -> None:
        request.url = url

    return change


def _with_data(data: Any) -> Callable[[AWSRequest], None]:
    def change(request: AWSRequest) -> None:
        request.data = data

    return change


def _with_params(request: AWSRequest) -> None:
    request.params = {"b": "2 3", "a": "1"}


UNCOVERED: dict[str, Callable[[AWSRequest], None]] = {
    "a query string": _with_url("https://dynamodb.us-east-1.amazonaws.com/?b=2&a=1"),
    "query parameters": _with_params,
    "a path": _with_url("https://proxy.example/dynamodb/./x/../"),
    "an IPv6 host": _with_url("http://[::1]:8000/"),
    "a Date header": _with_header("Date", "Fri, 04 Dec 2026 23:00:00 GMT"),
    "a given payload hash": _with_header("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
    "a header given twice": _with_header("x-amz-target", "DynamoDB_20120810.GetItem"),
    "a bytes header value": _with_header("X-Amz-Custom", b"bytes"),
    "a host header": _with_header("Host", "other.example:8000"),
    "a text body": _with_data('{"TableName": "sessions"}'),
    "no body": _with_data(None),
    "unsigned payloads": _with_context("payload_signing_enabled", False),
    "a trailing checksum": _with_context("checksum", {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}),
}


def outcome(sign: Signer, unsigned: AWSRequest) -> list[tuple[str, Any]] | str:
    """The headers of ``unsigned`` signed, or the name of the exception signing it raised."""
    try:
        return signed(sign, unsigned).headers.items()
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("change", list(UNCOVERED))
def test_a_request_of_another_kind_is_signed_as_botocore_signs_it(change: str) -> None:
    unsigned = request(*REQUESTS["read"])
    UNCOVERED[change](unsigned)
    assert outcome(ours(), unsigned) == outcome(botocores(), unsigned)
