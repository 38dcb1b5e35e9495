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
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.model import ListShape, MapShape, StructureShape
from botocore.utils import lowercase_dict

if TYPE_CHECKING:
    from botocore.model import ServiceModel, Shape

__all__ = ["HOT_OPERATIONS", "AnswerParser"]

HOT_OPERATIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
# Shapes botocore's JSON parser returns as JSON gave them (no handler of their own).
_AS_GIVEN = frozenset({"string", "boolean", "double", "float", "integer", "long"})

Convert = Callable[[Any], Any]


class _Unhandled(Exception):
    """A value of another type than the model's: botocore's parser decides what it becomes."""


class _Unsupported(Exception):
    """A model with a shape this module does not convert (timestamps, documents, unions): botocore parses it."""


class AnswerParser:
    """Parses 200 answers of ``operations`` of ``service_model`` (a JSON-protocol service) into what botocore's
    ``JSONParser.parse`` gives for them; an operation whose output has a shape it does not convert is left out."""

    def __init__(self, service_model: ServiceModel, operations: Iterable[str] = HOT_OPERATIONS) -> None:
        made: dict[str, Convert] = {}
        self._plans: dict[str, Convert] = {}
        for operation in operations:
            shape = service_model.operation_model(operation).output_shape
            attempt = dict(made)  # what a model that turns out unsupported made is dropped with it
            try:
                if shape is not None:
                    self._plans[operation] = _converter(shape, attempt)
            except _Unsupported:
                continue
            made = attempt

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


def _converter(shape: Shape, made: dict[str, Convert]) -> Convert:
    """The function that turns a JSON value of ``shape`` into botocore's parse of it; ``made`` holds those of the
    shapes already seen (the model is recursive: a map value holds maps). Raises ``_Unsupported``."""
    if shape.name in made:
        return made[shape.name]
    kind = shape.type_name
    if kind in _AS_GIVEN:
        return _as_given
    if kind == "blob":
        return _blob
    if isinstance(shape, StructureShape):
        return _structure(shape, made)
    if isinstance(shape, ListShape):
        member = _Pending(shape.member, made)
        made[shape.name] = convert = _list(member)
        member.resolve()
        return convert
    if isinstance(shape, MapShape):
        if shape.key.type_name != "string":
            raise _Unsupported(shape.name)
        value = _Pending(shape.value, made)
        made[shape.name] = convert = _map(value)
        value.resolve()
        return convert
    raise _Unsupported(f"{shape.name} ({kind})")


class _Pending:
    """The converter of a shape that may be the one being made (a recursive model): resolved once that one is."""

    def __init__(self, shape: Shape, made: dict[str, Convert]) -> None:
        self._shape = shape
        self._made = made
        self.convert: Convert = _as_given

    def resolve(self) -> None:
        self.convert = _converter(self._shape, self._made)


def _structure(shape: StructureShape, made: dict[str, Convert]) -> Convert:
    if shape.is_document_type or shape.is_tagged_union:
        raise _Unsupported(shape.name)
    members: dict[str, tuple[str, _Pending]] = {}
    order: list[str] = []

    def structure(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not dict:
            raise _Unhandled(shape.name)
        parsed = {}
        for name, raw in value.items():
            member = members.get(name)
            if member is not None and raw is not None:
                parsed[member[0]] = member[1].convert(raw)
        if len(parsed) > 1:  # botocore's order: the model's
            parsed = {name: parsed[name] for name in order if name in parsed}
        return parsed

    made[shape.name] = structure
    for name, member_shape in shape.members.items():
        pending = _Pending(member_shape, made)
        members[member_shape.serialization.get("name", name)] = (name, pending)
        order.append(name)
        pending.resolve()
    return structure


def _list(member: _Pending) -> Convert:
    def convert(value: Any) -> Any:
        if type(value) is not list:
            raise _Unhandled("list")
        if None in value:  # botocore's releases read a null member differently: its own parser decides
            raise _Unhandled("null in a list")
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
    if type(value) is not str:
        raise _Unhandled("blob")
    return b64decode(value)
