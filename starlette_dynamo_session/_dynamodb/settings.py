"""What a store is made with, read only: its table, the attribute names of its items, and its botocore client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette_dynamo_session._dynamodb.authenticated import AUTHENTICATION_NAMES
from starlette_dynamo_session._dynamodb.binding import BINDING_NAMES
from starlette_dynamo_session._dynamodb.forwarding import ROTATION_NAMES
from starlette_dynamo_session._dynamodb.item import ItemLayout

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

__all__ = ["StoreSettings", "check_names"]


def check_names(table_name: str, names: tuple[str, ...]) -> None:
    """Check a store's table name and item attribute ``names``. Raises ``ValueError`` when two names are the same,
    one is a bound session's (``BINDING_NAMES``), a rotated token's (``ROTATION_NAMES``) or an authenticated one's
    (``AUTHENTICATION_NAMES``), or one is empty."""
    if len(set(names)) != len(names):
        raise ValueError(f"attribute names must all differ, got {names!r}")
    if len(set(names + BINDING_NAMES)) != len(names) + len(BINDING_NAMES):
        raise ValueError(f"attribute names must differ from the bound sessions' {BINDING_NAMES!r}, got {names!r}")
    if set(names) & set(ROTATION_NAMES):
        raise ValueError(f"attribute names must differ from the rotated tokens' {ROTATION_NAMES!r}, got {names!r}")
    if set(names) & set(AUTHENTICATION_NAMES):
        raise ValueError(
            f"attribute names must differ from the authenticated sessions' {AUTHENTICATION_NAMES!r}, got {names!r}"
        )
    if not all(names) or not table_name:
        raise ValueError("the table name and attribute names must not be empty")


class StoreSettings:
    """The settings of a ``DynamoStore``, as its read-only properties: the table, its items' layout, the client."""

    def __init__(self, client: DynamoDBClient, table_name: str, layout: ItemLayout) -> None:
        self._client = client
        self._table_name = table_name
        self._layout = layout

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the sessions."""
        return self._table_name

    @property
    def token_name(self) -> str:
        """The partition key attribute (a string: the digest of the token)."""
        return self._layout.token

    @property
    def data_name(self) -> str:
        """The attribute holding the session bytes (binary)."""
        return self._layout.data

    @property
    def expiry_name(self) -> str:
        """The attribute holding the exact expiry instant (a number: epoch seconds with microseconds)."""
        return self._layout.expiry

    @property
    def ttl_name(self) -> str:
        """The table's DynamoDB TTL attribute (a number: epoch seconds, rounded up)."""
        return self._layout.ttl

    @property
    def created_name(self) -> str:
        """The attribute holding the session's creation instant (a number: epoch seconds with microseconds)."""
        return self._layout.created

    @property
    def version_name(self) -> str:
        """The attribute holding the item's version, which conditional writes compare."""
        return self._layout.version

    @property
    def max_age_name(self) -> str:
        """The attribute holding a session's own lifetime (a number of seconds, or NULL for a browser session)."""
        return self._layout.max_age

    @property
    def seal_data(self) -> bool:
        """Whether the data attribute is sealed under the session token (``True``) or stored as it is."""
        return self._layout.sealed

    @property
    def client(self) -> DynamoDBClient:
        """The botocore DynamoDB client every request goes through."""
        return self._client
