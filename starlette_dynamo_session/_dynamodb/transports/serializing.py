"""The store's requests written as botocore's JSON serializer writes them, faster.

DynamoDB's JSON wire format is the request itself with its member names as the model spells them and blobs
base64-encoded. botocore's serializer finds a method by the shape's type at every value; here each operation's input
model is turned once into plain functions, so a request is one pass over its parameters and ``json.dumps``: the
same request dict (headers, body bytes) botocore's ``serialize_to_request`` gives. Parameters it does not take as
they are (a member the model does not name, a value of another type than the model's: a tuple for a list, a
``bytearray`` for a blob) give ``None``, and the pipeline hands them to botocore's serializer.
"""

from __future__ import annotations

import json
from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.model import ListShape, MapShape, StructureShape

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel, Shape

__all__ = ["STORE_OPERATIONS", "RequestSerializer"]

# The operations the store's coroutines send.
STORE_OPERATIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchGetItem",
    "DescribeTable",
)
# Shapes botocore's JSON serializer writes as they are given (no method of their own).
_AS_GIVEN = frozenset({"string", "boolean", "integer", "long"})

Convert = Callable[[Any], Any]


class _Unhandled(Exception):
    """Parameters of another type than the model's: botocore's serializer decides what they become."""


class _Unsupported(Exception):
    """A model with a shape this module does not write (numbers with a fraction, timestamps, documents)."""


class RequestSerializer:
    """Writes requests for ``operations`` of ``service_model`` (a JSON-protocol service) as botocore's
    ``JSONSerializer.serialize_to_request`` does; an operation whose input has a shape it does not write, or that
    the service serializes with extras (a host prefix, query compatibility), is left out."""

    def __init__(self, service_model: ServiceModel, operations: Iterable[str] = STORE_OPERATIONS) -> None:
        made: dict[str, Convert] = {}
        self._plans: dict[str, Convert] = {}
        if "awsQueryCompatible" in service_model.metadata:
            return
        for operation in operations:
            model = service_model.operation_model(operation)
            attempt = dict(made)  # what a model that turns out unsupported made is dropped with it
            try:
                if model.input_shape is None or model.endpoint is not None:
                    raise _Unsupported(operation)
                self._plans[operation] = _converter(model.input_shape, attempt)
            except _Unsupported:
                continue
            made = attempt

    def serialize(self, model: OperationModel, parameters: Mapping[str, Any]) -> dict[str, Any] | None:
        """botocore's request dict for ``parameters`` of the operation ``model``, or ``None`` when botocore's
        serializer is to write it (an operation left out, parameters of other types than the model's). Raises
        nothing."""
        plan = self._plans.get(model.name)
        if plan is None:
            return None
        try:
            body = json.dumps(plan(parameters)).encode("utf-8")
        except Exception:  # botocore's serializer gives the result, or the error, for them
            return None
        metadata = model.metadata
        return {
            "url_path": "/",
            "query_string": "",
            "method": model.http.get("method", "POST"),
            "headers": {
                "X-Amz-Target": f"{metadata['targetPrefix']}.{model.name}",
                "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
            },
            "body": body,
        }


def _converter(shape: Shape, made: dict[str, Convert]) -> Convert:
    """The function that writes a value of ``shape`` as botocore's serializer does; ``made`` holds those of the
    shapes already seen (the model is recursive). Raises ``_Unsupported``."""
    if shape.name in made:
        return made[shape.name]
    if shape.type_name in _AS_GIVEN:
        return _as_given
    if shape.type_name == "blob":
        return _blob
    if isinstance(shape, StructureShape):
        return _structure(shape, made)
    if isinstance(shape, ListShape):
        member = _Pending(shape.member, made)
        made[shape.name] = convert = _list(member)
        member.resolve()
        return convert
    if isinstance(shape, MapShape):
        value = _Pending(shape.value, made)
        made[shape.name] = convert = _map(value)
        value.resolve()
        return convert
    raise _Unsupported(f"{shape.name} ({shape.type_name})")


class _Pending:
    """The converter of a shape that may be the one being made (a recursive model): resolved once that one is."""

    def __init__(self, shape: Shape, made: dict[str, Convert]) -> None:
        self._shape = shape
        self._made = made
        self.convert: Convert = _as_given

    def resolve(self) -> None:
        self.convert = _converter(self._shape, self._made)


def _structure(shape: StructureShape, made: dict[str, Convert]) -> Convert:
    if shape.is_document_type:
        raise _Unsupported(shape.name)
    members: dict[str, tuple[str, _Pending]] = {}

    def structure(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unhandled(shape.name)
        written = {}
        for name, item in value.items():
            wire_name, member = members[name]  # KeyError for a member the model does not name
            written[wire_name] = member.convert(item)
        return written

    made[shape.name] = structure
    for name, member_shape in shape.members.items():
        pending = _Pending(member_shape, made)
        members[name] = (member_shape.serialization.get("name", name), pending)
        pending.resolve()
    return structure


def _list(member: _Pending) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not list:
            raise _Unhandled("list")
        return [member.convert(item) for item in value]

    return convert


def _map(value_converter: _Pending) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unhandled("map")
        return {key: value_converter.convert(item) for key, item in value.items()}

    return convert


def _as_given(value: Any) -> Any:
    return value


def _blob(value: Any) -> Any:
    if type(value) is str:
        value = value.encode("utf-8")
    elif type(value) is not bytes:
        raise _Unhandled("blob")
    return b64encode(value).decode("utf-8")
