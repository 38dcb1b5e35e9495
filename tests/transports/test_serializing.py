"""The store's requests written without botocore's serializer, against botocore's serializer: the same request dict,
body bytes included, for every request the store sends; any other request left to botocore."""

from __future__ import annotations

import base64
from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer

from starlette_dynamo_session._dynamodb.transports.serializing import RequestSerializer
from tests.transports.test_sigv4 import ITEM, KEY, REQUESTS, TABLE

SERVICE_MODEL = botocore.session.get_session().get_service_model("dynamodb")
SERIALIZER = RequestSerializer(SERVICE_MODEL)

EVERY_TYPE = {
    **ITEM,
    "text": {"S": 'Zoë ✓ \u2028 "quoted" \\ </script>'},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "names": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"one", b"\xfe\xff"]},
    "blob as text": {"B": "text, encoded"},
    "map": {"M": {"inner": {"B": b"deep"}, "list": {"L": [{"B": b"deeper"}, {"M": {}}, {"L": []}]}}},
}
MORE: dict[str, tuple[str, dict[str, Any]]] = {
    "an item of every type": ("PutItem", {"TableName": TABLE, "Item": EVERY_TYPE}),
    "a user's index update": (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": KEY,
            "UpdateExpression": "SET #lease = :until REMOVE #old",
            "ConditionExpression": "attribute_not_exists(#lease) OR #lease < :now",
            "ExpressionAttributeNames": {"#lease": "lease", "#old": "s#old"},
            "ExpressionAttributeValues": {":until": {"N": "1767225600"}, ":now": {"N": "1767225500"}},
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    "a transaction with a token and an update": (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": TABLE, "Item": EVERY_TYPE}},
                {"Update": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "SET #a = :a"}},
                {"ConditionCheck": {"TableName": TABLE, "Key": KEY, "ConditionExpression": "attribute_exists(#a)"}},
            ],
            "ClientRequestToken": "0b4c9d0e-5a1f-4f0e-9a52-6c8d3f2b1a00",
            "ReturnConsumedCapacity": "TOTAL",
        },
    ),
    "no parameters": ("DescribeTable", {}),
}
SHAPES = {**REQUESTS, **MORE}


def botocores(operation: str, params: dict[str, Any]) -> Any:
    serializer = create_serializer("json", include_validation=False)
    return serializer.serialize_to_request(params, SERVICE_MODEL.operation_model(operation))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_request_the_store_sends_is_written_as_botocore_writes_it(shape: str) -> None:
    operation, params = SHAPES[shape]
    assert SERIALIZER.serialize(SERVICE_MODEL.operation_model(operation), params) == botocores(operation, params)


def test_blobs_are_base64_on_the_wire() -> None:
    written = SERIALIZER.serialize(SERVICE_MODEL.operation_model("PutItem"), {"Item": {"b": {"B": b"\x00\xff"}}})
    assert written is not None
    assert written["body"] == b'{"Item": {"b": {"B": "' + base64.b64encode(b"\x00\xff") + b'"}}}'


NOT_OURS: dict[str, dict[str, Any]] = {
    "a member the model does not name": {"TableName": TABLE, "Key": KEY, "Unknown": 1},
    "a tuple for a list": {"TableName": TABLE, "Item": {"s": {"SS": ("a", "b")}}},
    "a bytearray blob": {"TableName": TABLE, "Item": {"b": {"B": bytearray(b"x")}}},
    "bytes for a string": {"TableName": TABLE, "Item": {"s": {"S": b"x"}}},
    "a list for a map": {"TableName": TABLE, "Item": [1]},
}


@pytest.mark.parametrize("params", list(NOT_OURS))
def test_parameters_of_other_types_than_the_models_are_left_to_botocores_serializer(params: str) -> None:
    assert SERIALIZER.serialize(SERVICE_MODEL.operation_model("PutItem"), NOT_OURS[params]) is None


@pytest.mark.parametrize("operation", ["Query", "Scan", "CreateTable", "UpdateTimeToLive"])
def test_operations_the_store_does_not_send_on_the_event_loop_are_left_to_botocore(operation: str) -> None:
    assert SERIALIZER.serialize(SERVICE_MODEL.operation_model(operation), {"TableName": TABLE}) is None


def test_an_operation_whose_input_has_a_timestamp_is_not_taken_on() -> None:
    serializer = RequestSerializer(SERVICE_MODEL, ["ExportTableToPointInTime", "DescribeTable"])
    assert serializer.serialize(SERVICE_MODEL.operation_model("ExportTableToPointInTime"), {}) is None
    assert serializer.serialize(SERVICE_MODEL.operation_model("DescribeTable"), {}) is not None
