"""The successful answers of the store's hot operations, parsed as botocore's JSON parser parses them, faster.

botocore's parser walks the answer and its model together, looking up a handler by the shape's type at every value.
Here each operation's output model is turned once into plain functions (a structure keeps its modeled members, a map
and a list convert their values, a blob is base64-decoded, any other scalar is kept as JSON gave it), so a parse is
``json.loads`` and one pass over the result; ``ResponseMetadata`` is then added as botocore adds it. Whatever does
not parse cleanly that way (a body that is not a JSON object, a value of a type the model does not expect, bad
base64) returns ``None``, and the pipeline hands the answer to botocore's parser, which gives its own result or
error for it.
"""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.model import MapShape, StructureShape
from botocore.utils import lowercase_dict

from starlette_dynamo_session._dynamodb.transports.plans import Convert, Pending, Planner, Unhandled, Unsupported

if TYPE_CHECKING:
    from botocore.model import ServiceModel

__all__ = ["HOT_OPERATIONS", "AnswerParser"]

HOT_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")


class AnswerParser:
    """Parses 200 answers of ``operations`` of ``service_model`` (a JSON-protocol service) into what botocore's
    ``JSONParser.parse`` gives for them; an operation whose output has a shape it does not convert is left out."""

    def __init__(self, service_model: ServiceModel, operations: Iterable[str] = HOT_OPERATIONS) -> None:
        shapes = ((operation, service_model.operation_model(operation).output_shape) for operation in operations)
        self._plans = _AnswerPlanner().plans(shapes)

    def parse(self, operation: str, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """botocore's parse of the answer (``status``, ``headers``, ``body``) to ``operation``, or ``None`` when
        botocore's parser is to read it: an operation left out, a status other than 200, or a body this does not
        read as a JSON object of the operation's model. Raises nothing."""
        plan = self._plans.get(operation)
        if plan is None or status != 200:
            return None
        try:
            parsed = plan(json.loads(body.decode("utf-8")) if body else {})
        except Exception:  # botocore's parser gives the result, or the error, for it
            return None
        if type(parsed) is not dict:
            return None
        if "x-amzn-requestid" in headers:
            parsed.setdefault("ResponseMetadata", {})["RequestId"] = headers["x-amzn-requestid"]
        metadata = parsed.get("ResponseMetadata", {})
        metadata["HTTPStatusCode"] = status
        metadata["HTTPHeaders"] = lowercase_dict(headers)
        parsed["ResponseMetadata"] = metadata
        return parsed


class _AnswerPlanner(Planner):
    """Functions that turn a JSON value of a shape into botocore's parse of it."""

    AS_GIVEN = frozenset({"string", "boolean", "double", "float", "integer", "long"})

    def blob(self, value: Any) -> Any:
        """A base64 string, decoded. Raises ``Unhandled`` for anything else."""
        if type(value) is not str:
            raise Unhandled("blob")
        return b64decode(value)

    def structure(self, shape: StructureShape) -> Convert:
        """The modeled members, renamed from their wire names and in the model's order; nulls dropped."""
        if shape.is_document_type or shape.is_tagged_union:
            raise Unsupported(shape.name)
        members: dict[str, tuple[str, Pending]] = {}
        order: list[str] = []

        def structure(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not dict:
                raise Unhandled(shape.name)
            parsed = {}
            for name, raw in value.items():
                member = members.get(name)
                if member is not None and raw is not None:
                    parsed[member[0]] = member[1].convert(raw)
            if len(parsed) > 1:  # botocore's order: the model's
                parsed = {name: parsed[name] for name in order if name in parsed}
            return parsed

        self.remember(shape, structure)
        for name, member_shape in shape.members.items():
            pending = Pending(member_shape, self)
            members[member_shape.serialization.get("name", name)] = (name, pending)
            order.append(name)
            pending.resolve()
        return structure

    def list_of(self, member: Pending) -> Convert:
        """Each member parsed; a list holding a null is botocore's to read (its releases differ)."""
        convert = super().list_of(member)

        def checked(value: Any) -> Any:
            if type(value) is list and None in value:
                raise Unhandled("null in a list")
            return convert(value)

        return checked

    def map_of(self, shape: MapShape, value_converter: Pending) -> Convert:
        """Each value parsed; a map whose keys are not strings is botocore's to parse."""
        if shape.key.type_name != "string":
            raise Unsupported(shape.name)
        return super().map_of(shape, value_converter)
