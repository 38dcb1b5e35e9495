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
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.model import StructureShape

from starlette_dynamo_session._dynamodb.transports.plans import Convert, Pending, Planner, Unhandled, Unsupported

if TYPE_CHECKING:
    from botocore.model import OperationModel, ServiceModel

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


class RequestSerializer:
    """Writes requests for ``operations`` of ``service_model`` (a JSON-protocol service) as botocore's
    ``JSONSerializer.serialize_to_request`` does; an operation whose input has a shape it does not write, or that
    the service serializes with extras (a host prefix, query compatibility), is left out."""

    def __init__(self, service_model: ServiceModel, operations: Iterable[str] = STORE_OPERATIONS) -> None:
        self._plans: dict[str, Convert] = {}
        if "awsQueryCompatible" in service_model.metadata:
            return
        models = [service_model.operation_model(operation) for operation in operations]
        shapes = ((model.name, model.input_shape) for model in models if model.endpoint is None)
        self._plans = _RequestPlanner().plans(shapes)

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


class _RequestPlanner(Planner):
    """Functions that write a value of a shape as botocore's JSON serializer does."""

    AS_GIVEN = frozenset({"string", "boolean", "integer", "long"})

    def blob(self, value: Any) -> Any:
        """Bytes (or text, as UTF-8), base64-encoded. Raises ``Unhandled`` for anything else."""
        if type(value) is str:
            value = value.encode("utf-8")
        elif type(value) is not bytes:
            raise Unhandled("blob")
        return b64encode(value).decode("utf-8")

    def structure(self, shape: StructureShape) -> Convert:
        """The members under their wire names. Raises ``Unsupported`` for a document."""
        if shape.is_document_type:
            raise Unsupported(shape.name)
        members: dict[str, tuple[str, Pending]] = {}

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                raise Unhandled(shape.name)
            written = {}
            for name, item in value.items():
                wire_name, member = members[name]  # KeyError for a member the model does not name
                written[wire_name] = member.convert(item)
            return written

        self.remember(shape, structure)
        for name, member_shape in shape.members.items():
            pending = Pending(member_shape, self)
            members[name] = (member_shape.serialization.get("name", name), pending)
            pending.resolve()
        return structure
