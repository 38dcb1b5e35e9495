"""Operation models turned once into plain functions: the shared walk of the fast serializer and parser.

botocore's serializer and parser look up a method by the shape's type at every value. A ``Planner`` walks each
operation's model once instead, and gives a function per shape (a structure keeps its modeled members, a list and a
map convert their values, a scalar is kept or converted as the subclass says), so a request or an answer is one pass.
The model is recursive (a map value holds maps): a shape's function exists before its members' are made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.model import ListShape, MapShape, StructureShape

if TYPE_CHECKING:
    from botocore.model import Shape

__all__ = ["Convert", "Pending", "Planner", "Unhandled", "Unsupported", "as_given"]

Convert = Callable[[Any], Any]


class Unhandled(Exception):
    """A value of another type than the model's: botocore's own serializer or parser decides what it becomes."""


class Unsupported(Exception):
    """A model with a shape the planner does not convert: botocore handles the whole operation."""


def as_given(value: Any) -> Any:
    """A scalar botocore keeps as it is."""
    return value


class Pending:
    """The function of a shape that may be the one being made (a recursive model): set once that one exists."""

    def __init__(self, shape: Shape, planner: Planner) -> None:
        self._shape = shape
        self._planner = planner
        self.convert: Convert = as_given

    def resolve(self) -> None:
        """Make the shape's function, now that the shapes above it have theirs. Raises ``Unsupported``."""
        self.convert = self._planner.converter(self._shape)


class Planner:
    """Makes the functions of one model's shapes, each once. A subclass says which scalar types are kept as they
    are (``AS_GIVEN``), how a blob and a structure convert, and may refuse a list or a map."""

    AS_GIVEN: ClassVar[frozenset[str]]

    def __init__(self) -> None:
        self._made: dict[str, Convert] = {}

    def plans(self, shapes: Iterable[tuple[str, Shape | None]]) -> dict[str, Convert]:
        """The function of each named shape (an operation's input or output); a name whose shape is ``None`` or
        has a shape the planner does not convert is left out, and what its walk made is dropped with it."""
        plans: dict[str, Convert] = {}
        for name, shape in shapes:
            made = dict(self._made)
            try:
                if shape is not None:
                    plans[name] = self.converter(shape)
            except Unsupported:
                self._made = made
        return plans

    def converter(self, shape: Shape) -> Convert:
        """The function for values of ``shape``. Raises ``Unsupported``."""
        if shape.name in self._made:
            return self._made[shape.name]
        if shape.type_name in self.AS_GIVEN:
            return as_given
        if shape.type_name == "blob":
            return self.blob
        if isinstance(shape, StructureShape):
            return self.structure(shape)
        if isinstance(shape, ListShape):
            member = Pending(shape.member, self)
            self._made[shape.name] = convert = self.list_of(member)
            member.resolve()
            return convert
        if isinstance(shape, MapShape):
            value = Pending(shape.value, self)
            self._made[shape.name] = convert = self.map_of(shape, value)
            value.resolve()
            return convert
        raise Unsupported(f"{shape.name} ({shape.type_name})")

    def remember(self, shape: Shape, convert: Convert) -> None:
        """Record ``convert`` as ``shape``'s function before its members are made (they may refer to it)."""
        self._made[shape.name] = convert

    def blob(self, value: Any) -> Any:
        """A blob's conversion. Raises ``Unhandled``."""
        raise NotImplementedError

    def structure(self, shape: StructureShape) -> Convert:
        """A structure's function (``remember`` it before resolving its members). Raises ``Unsupported``."""
        raise NotImplementedError

    def list_of(self, member: Pending) -> Convert:
        """A list's function: each member converted. Raises ``Unhandled`` for a value that is not a list."""

        def convert(value: Any) -> Any:
            if type(value) is not list:
                raise Unhandled("list")
            return [member.convert(item) for item in value]

        return convert

    def map_of(self, shape: MapShape, value_converter: Pending) -> Convert:
        """A map's function: each value converted. Raises ``Unhandled`` for a value that is not a dict, and
        ``Unsupported`` for a map the subclass does not convert."""

        def convert(value: Any) -> Any:
            if type(value) is not dict:
                raise Unhandled("map")
            return {key: value_converter.convert(item) for key, item in value.items()}

        return convert
