"""The requests that read and write user items (the users' index), built from the table name and the item layout.

A user item is keyed ``user#`` + the SHA-256 digest of the user id (``#`` is not in the digests' alphabet, so it
can never be a session's key). It holds a ``version``, a count of bindings (``user_pruning``), one entry per session
bound to the user (``s#`` + the session's key, holding its expiry), and, while ``revoke_all`` works, its lease.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette_dynamo_session._core import clock
from starlette_dynamo_session._core.records import SessionUser
from starlette_dynamo_session._core.tokens import digest
from starlette_dynamo_session._dynamodb.attributes import whole_seconds
from starlette_dynamo_session._dynamodb.item import ItemLayout
from starlette_dynamo_session._dynamodb.user_pruning import BINDS_NAME, ENTRY_PREFIX, PRUNE_AFTER, prune_request

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, UpdateTypeDef

__all__ = ["LEASE_NAME", "LEASE_SECONDS", "REMOVE_LIMIT", "USER_KEY_PREFIX", "UserItems"]

USER_KEY_PREFIX = "user#"
LEASE_NAME = "revoking"  # on the user item: until when (epoch seconds) revoke_all holds it
LEASE_SECONDS = 10
REMOVE_LIMIT = 100  # attributes removed per UpdateItem (an expression is at most 4 KB)


@dataclass(frozen=True, slots=True)
class UserItems:
    """The requests for the user items of the table ``table``, whose items are laid out by ``layout``. The builders
    raise nothing."""

    table: str
    layout: ItemLayout

    def key(self, user_id: str) -> dict[str, AttributeValueTypeDef]:
        """The key of ``user_id``'s user item."""
        return {self.layout.token: {"S": USER_KEY_PREFIX + digest(user_id)}}

    def get(self, user_id: str) -> dict[str, Any]:
        """The strongly consistent GetItem of ``user_id``'s user item."""
        return {"TableName": self.table, "Key": self.key(user_id), "ConsistentRead": True}

    def index(self, item: Mapping[str, Any]) -> tuple[int, list[str]]:
        """A user item's version (0 for none: an empty ``item``) and the session keys it names."""
        keys = [name.removeprefix(ENTRY_PREFIX) for name in item if name.startswith(ENTRY_PREFIX)]
        return int(item.get(self.layout.version, {}).get("N", "0")), keys

    def binding(self, token: str, user: SessionUser, expiry: datetime, *, replacing: str | None) -> UpdateTypeDef:
        """The transaction item that enters the session stored under ``token`` until ``expiry`` in ``user``'s index
        (and takes out the one under ``replacing``, which it replaces), counting the user's version on.

        The entry's value is the session's expiry (epoch seconds, rounded up), so pruning reads only the sessions
        whose recorded expiry has passed. The item refuses the binding while a ``revoke_all`` holds it, and once
        ``PRUNE_AFTER`` bindings went in since its last pruning: the transaction then fails on the user item alone.
        """
        names = {
            "#new": ENTRY_PREFIX + digest(token),
            "#version": self.layout.version,
            "#lease": LEASE_NAME,
            "#binds": BINDS_NAME,
            "#key": self.layout.token,
        }
        expression = "SET #new = :until ADD #version :one, #binds :one"
        if replacing is not None:
            names["#old"] = ENTRY_PREFIX + digest(replacing)
            expression += " REMOVE #old"
        return {
            "TableName": self.table,
            "Key": self.key(user.user_id),
            "UpdateExpression": expression,
            # No revoke_all at work, and not due for pruning (an item without the count, from before it, is due).
            "ConditionExpression": (
                "(attribute_not_exists(#lease) OR #lease < :now) AND (attribute_not_exists(#key) OR #binds < :due)"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                ":until": {"N": str(whole_seconds(expiry))},
                ":one": {"N": "1"},
                ":now": {"N": str(int(clock.seconds()))},
                ":due": {"N": str(PRUNE_AFTER)},
            },
        }

    def lease(self, user_id: str) -> dict[str, Any]:
        """The UpdateItem that takes ``revoke_all``'s lease on an existing user item no other ``revoke_all`` holds,
        returning the item; a failed condition returns it as it is (none: there is no user item)."""
        now = int(clock.seconds())
        return {
            "TableName": self.table,
            "Key": self.key(user_id),
            "UpdateExpression": "SET #lease = :until",
            "ConditionExpression": "attribute_exists(#key) AND (attribute_not_exists(#lease) OR #lease < :now)",
            "ExpressionAttributeNames": {"#key": self.layout.token, "#lease": LEASE_NAME},
            "ExpressionAttributeValues": {":until": {"N": str(now + LEASE_SECONDS)}, ":now": {"N": str(now)}},
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def forgetting(self, user_id: str, keys: Iterable[str], *, version: int | None) -> list[dict[str, Any]]:
        """The UpdateItems that remove the entries of ``keys`` from the user item, at most ``REMOVE_LIMIT`` each,
        never creating one. With ``version``, there is at least one, and the last also releases ``revoke_all``'s
        lease, on condition that the item is still at that version."""
        entries = [ENTRY_PREFIX + key for key in keys]
        chunks = [entries[start : start + REMOVE_LIMIT] for start in range(0, len(entries), REMOVE_LIMIT)]
        if version is not None and not chunks:
            chunks = [[]]
        requests = []
        for index, chunk in enumerate(chunks):
            names = {f"#e{number}": entry for number, entry in enumerate(chunk)}
            request: dict[str, Any] = {"TableName": self.table, "Key": self.key(user_id)}
            if version is not None and index == len(chunks) - 1:
                request["UpdateExpression"] = "REMOVE " + ", ".join([*names, "#lease"])
                request["ConditionExpression"] = "#version = :version"
                request["ExpressionAttributeValues"] = {":version": {"N": str(version)}}
                names.update({"#lease": LEASE_NAME, "#version": self.layout.version})
            else:
                request["UpdateExpression"] = "REMOVE " + ", ".join(names)
                request["ConditionExpression"] = "attribute_exists(#key)"
                names["#key"] = self.layout.token
            request["ExpressionAttributeNames"] = names
            requests.append(request)
        return requests

    def pruning(self, user_id: str, changes: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """The UpdateItems that prune the user item (``user_pruning.prune_request``), at most ``REMOVE_LIMIT``
        entries each; there is at least one, and the last starts the count of bindings again."""
        chunks = [changes[start : start + REMOVE_LIMIT] for start in range(0, len(changes), REMOVE_LIMIT)] or [[]]
        key = self.key(user_id)
        return [
            prune_request(self.table, key, self.layout.token, chunk, last=index == len(chunks) - 1)
            for index, chunk in enumerate(chunks)
        ]
